// Convolutional backbones: MobileNetV2 in torchvision's layout (ImageNet
// weights imported from the int8 TorchScript, batch-norm folded into biased
// convolutions), ResNet-18/34/50 (random init, with batch-norm), and dlib's
// face-identity ResNet in face-api.js's layout ("face_resnet": weights
// imported from TensorFlow.js by model/tfjs_import.h).
//
// A backbone maps [N,3,S,S] float32 normalised RGB to pooled features [N,C].
// Parameter names follow torchvision ("features.2.conv.0.0.weight",
// "layer1.0.conv1.weight"), so imported weights map by module path. Inputs
// may be contiguous or channels_last; every op used handles both.
//
//   auto net = agegate::make_backbone(agegate::Backbone::kResNet18);
//   at::Tensor f = net->forward(x);  // [N,512]
#pragma once
#include <torch/nn/module.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agegate/model/graph_sink.h"

namespace agegate {

class BackboneImpl : public torch::nn::Module {
 public:
  // [N,3,S,S] float32 normalised -> [N,feature_dim()] float32 (global average pooled).
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  virtual int64_t feature_dim() const = 0;
  virtual std::string name() const = 0;
  // States forward() in eval mode to `g` for an [N,3,S,S] input named `x`
  // (S = input_size); returns the name of the [N,feature_dim()] features.
  virtual std::string describe(GraphSink& g, const std::string& x, int64_t input_size) = 0;
};

struct ResNetOptions {
  // Zero the last batch-norm gamma of each residual block, so every block
  // starts as the identity (Goyal et al. 2017); trains better from scratch.
  bool zero_init_residual = true;
};

// The backbones agegate builds, by name: "mobilenet_v2", "face_resnet",
// "resnet18", "resnet34", "resnet50" (model files and --backbone say them).
enum class Backbone { kMobileNetV2, kFaceResNet, kResNet18, kResNet34, kResNet50 };
inline constexpr Backbone kBackbones[] = {Backbone::kMobileNetV2, Backbone::kFaceResNet, Backbone::kResNet18,
                                          Backbone::kResNet34, Backbone::kResNet50};
const char* to_string(Backbone b);
// From its name; InvalidInput naming it and listing the known names.
Backbone parse_backbone(const std::string& name);
// Weights are randomly initialised.
std::shared_ptr<BackboneImpl> make_backbone(Backbone b);
// MobileNetV2 uses torchvision's ReLU6. Its quantisable twin (where our
// ImageNet weights come from) uses ReLU bounded by the int8 range; measured
// against the int8 logits both agree about equally (cosine 0.963-0.980 with
// ReLU6 vs 0.959-0.978 with ReLU on 4 faces), so we keep torchvision's.
std::shared_ptr<BackboneImpl> make_mobilenet_v2();
std::shared_ptr<BackboneImpl> make_resnet(int depth, const ResNetOptions& options);
// dlib's face-recognition ResNet (29 convs; dlib's per-channel scale layer
// after each is folded into the conv's weight and bias), pooled 256-d
// features; trained for 150x150 input. The 128-d
// identity descriptor's projection is not part of it (import_face_resnet
// hands it out separately).
std::shared_ptr<BackboneImpl> make_face_resnet();
// Its smallest input side: below it the last stride-2 block gets fewer than 3 pixels.
inline constexpr int kFaceResNetMinInput = 103;
// dlib's scale layers as separate tensors ("X.scale.weights", "X.scale.biases"
// beside "X.conv.weight", "X.conv.bias", under any prefix) folded into their
// convolutions: weight * s, bias * s + t, the same function. Used by the
// TensorFlow.js import and to read model files written before the fold. Other
// names pass through (a state dict without scale layers comes back as it
// was); a scale without its conv throws ModelError.
std::map<std::string, at::Tensor> fold_face_resnet_scales(std::map<std::string, at::Tensor> named);

}  // namespace agegate
