// Imports TensorFlow.js weights (a weights manifest JSON and the binary
// shards it lists) with the project's own reader, and fills the face-identity
// ResNet (make_face_resnet()) from face-api.js's FaceRecognitionNet files in
// ../shared/weights/face_recognition/.
//
// The manifest lists each tensor's name, shape and dtype in the order its
// bytes lie in the concatenated shards; a tensor with a "quantization" entry
// is stored as uint8 (or uint16) q and means q * scale + min, as TensorFlow.js
// decodes it (computed in double, stored as float32). TF.js conv filters are
// [kh,kw,in,out]; ours are [out,in,kh,kw].
//
//   auto net = agegate::make_backbone("face_resnet");
//   at::Tensor fc;  // [256,128]: descriptor = features.mm(fc)
//   auto rep = agegate::import_face_resnet(*net, weights / agegate::kFaceResNetManifest, &fc);
#pragma once
#include <ATen/core/Tensor.h>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "agegate/model/backbone.h"
#include "agegate/model/imagenet_import.h"

namespace agegate {

inline constexpr const char* kFaceResNetManifest = "face_recognition/face_recognition_model-weights_manifest.json";
inline constexpr int kFaceResNetConvs = 29;
// Its input, as face-api.js feeds it: 150x150 RGB, (x - mean) / 256 on 0..255.
inline constexpr int kFaceResNetInputSize = 150;
inline constexpr std::array<float, 3> kFaceResNetMeanRgb{122.782f, 117.001f, 104.298f};
inline constexpr float kFaceResNetDivisor = 256.0f;

struct TfjsTensor {
  std::string name;
  at::Tensor value;  // float32, the manifest's shape, TF.js layout
  bool quantized = false;
};

// Every tensor of the manifest, in order. Throws ModelError naming the file
// and tensor: unreadable or malformed manifest, a missing or short shard,
// bytes left over, an unsupported dtype or quantisation.
std::vector<TfjsTensor> read_tfjs_weights(const std::filesystem::path& manifest);

// Fills a face_resnet backbone from the FaceRecognitionNet manifest; the
// descriptor projection ("fc", [256,128]) goes to `descriptor_fc` when given.
// Throws ModelError on a foreign file, a SHA-256 that disagrees with
// SHA256SUMS, a shape mismatch, a tensor of the file we have no place for,
// or a parameter of ours left unfilled.
ImportReport import_face_resnet(BackboneImpl& face_resnet, const std::filesystem::path& manifest,
                                at::Tensor* descriptor_fc = nullptr);

}  // namespace agegate
