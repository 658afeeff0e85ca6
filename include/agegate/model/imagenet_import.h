// Imports ImageNet weights from ../shared/weights/mobilenet_quantized.pt (an
// int8 qnnpack TorchScript MobileNetV2 with batch-norm folded into its convs)
// into our float MobileNetV2 backbone by unpacking and dequantising every
// packed conv/linear parameter.
//
// Batch-norm: the file has none left; each BN was folded into the conv before
// it (w' = w * gamma/sigma, b' = beta - mu * gamma/sigma). Our MobileNetV2 is
// therefore built without BN and with a bias on every conv, and fine-tuning
// trains those folded weights and biases directly (no BN statistics at all).
// Precision: weights are int8 per-channel, so the float copy carries their
// rounding (half an int8 step, ~0.2% of a channel's range); the float net runs without
// the int8 activation rounding, so its logits differ slightly from the file's
// (cosine 0.96-0.98 over the 1000 ImageNet logits on face photos).
//
//   auto mnv2 = agegate::make_backbone("mobilenet_v2");
//   auto rep = agegate::import_mobilenet_v2_imagenet(*mnv2, weights / agegate::kMobileNetFile);
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

#include "agegate/model/backbone.h"

namespace agegate {

inline constexpr const char* kMobileNetFile = "mobilenet_quantized.pt";
inline constexpr int kMobileNetConvs = 52;

struct ImportReport {
  std::string source;  // "imagenet_mobilenet_v2" or "face_api_face_recognition"
  int convs = 0;       // conv layers filled (52 expected)
  int linears = 0;     // 1 when the classifier was filled
  std::string file;    // path read (a TF.js import: the manifest)
  std::string sha256;  // hex SHA-256 of the file, to record in what is made from it
  bool sha256_checked = false;  // true when a SHA256SUMS entry next to it matched
  // A TF.js import's weights file (the manifest names it), with its SHA-256.
  std::string data_file, data_sha256;
  bool data_sha256_checked = false;
  nlohmann::json to_json() const;  // what the model file records
};

// Fills `mobilenet` (from make_backbone("mobilenet_v2")). If `classifier_weight`
// and `classifier_bias` are given, they receive the 1000-class ImageNet head
// ([1000,1280] and [1000]). Throws ModelError on a missing/foreign file, a
// SHA-256 that disagrees with SHA256SUMS beside the file, a layer whose shape
// does not match, or a conv of ours left unfilled.
ImportReport import_mobilenet_v2_imagenet(BackboneImpl& mobilenet,
                                          const std::filesystem::path& torchscript_file,
                                          at::Tensor* classifier_weight = nullptr,
                                          at::Tensor* classifier_bias = nullptr);

// Runs the int8 TorchScript model itself: [N,3,224,224] normalised -> [N,1000]
// logits (the scripted graph is fixed to batch 1, so rows run one at a time).
at::Tensor torchscript_imagenet_logits(const std::filesystem::path& torchscript_file,
                                       const at::Tensor& x);

// Hex SHA-256 of a file (OpenSSL EVP). Throws IoError.
std::string sha256_file(const std::filesystem::path& path);
// Looks `file` up in a SHA256SUMS beside it ("name") or one folder up
// ("folder/name"). true when listed with `digest`, false when not listed;
// throws ModelError when listed with another digest.
bool check_listed_sha256(const std::filesystem::path& file, const std::string& digest);

}  // namespace agegate
