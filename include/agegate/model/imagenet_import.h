// Imports ImageNet weights from ../shared/weights/mobilenet_quantized.pt (an
// int8 qnnpack TorchScript MobileNetV2 with batch-norm folded into its convs)
// into our float MobileNetV2 backbone by unpacking and dequantising every
// packed conv/linear parameter.
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>

#include "agegate/model/backbone.h"

namespace agegate {

inline constexpr const char* kMobileNetFile = "mobilenet_quantized.pt";

struct ImportReport {
  int convs = 0;     // conv layers filled (52 expected)
  int linears = 0;   // 1 when the classifier was filled
  std::string file;  // path read
};

// Fills `mobilenet` (from make_backbone("mobilenet_v2")). If `classifier_weight`
// and `classifier_bias` are given, they receive the 1000-class ImageNet head
// ([1000,1280] and [1000]). Throws ModelError on a missing/foreign file or a
// layer whose shape does not match.
ImportReport import_mobilenet_v2_imagenet(BackboneImpl& mobilenet,
                                          const std::filesystem::path& torchscript_file,
                                          at::Tensor* classifier_weight = nullptr,
                                          at::Tensor* classifier_bias = nullptr);

// Runs the int8 TorchScript model itself: [N,3,224,224] normalised -> [N,1000] logits.
at::Tensor torchscript_imagenet_logits(const std::filesystem::path& torchscript_file,
                                       const at::Tensor& x);

}  // namespace agegate
