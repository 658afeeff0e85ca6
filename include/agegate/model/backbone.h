// Convolutional backbones in torchvision's layout: MobileNetV2 (ImageNet
// weights imported from the int8 TorchScript, batch-norm folded into biased
// convolutions) and ResNet-18/34/50 (random init, with batch-norm).
//
// A backbone maps [N,3,S,S] float32 normalised RGB to pooled features [N,C].
#pragma once
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

namespace agegate {

class BackboneImpl : public torch::nn::Module {
 public:
  // [N,3,S,S] float32 normalised -> [N,feature_dim()] float32 (global average pooled).
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  virtual int64_t feature_dim() const = 0;
  virtual std::string name() const = 0;
};

// "mobilenet_v2", "resnet18", "resnet34", "resnet50". Throws InvalidInput
// listing the known names otherwise. Weights are randomly initialised.
std::shared_ptr<BackboneImpl> make_backbone(const std::string& name);
std::vector<std::string> backbone_names();

}  // namespace agegate
