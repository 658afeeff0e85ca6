// The age network as a standard ONNX file, for ONNX Runtime, OpenCV DNN,
// TensorRT, OpenVINO or a till's NPU. Written with the ONNX protobuf
// (Debian's libonnx-dev) and checked with its checker before it is written.
//
// The graph: input "image" [N,3,S,S] float32 RGB 0..255 at the model's input
// size (N dynamic); the model's normalisation ((x/255 - mean) / std) inside;
// outputs "logits" [N,K] and "age" [N], the expected age of
// softmax(logits / T) at the file's global temperature T. With flip
// averaging the logits are the mean of the network's on the photo and on its
// mirror image, as agegate's own inference (eval/run_model.h). metadata_props
// carry what a consumer needs to reproduce agegate's interval and decision
// (keys "agegate.preprocess", ".calibration", ".recommended_policy", ".data",
// ".training", ".version", ".outputs", each a JSON text; docs/onnx.md).
//
//   OnnxExport e = export_onnx("models/agegate.agm", "agegate.onnx", {});
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "agegate/model/model_file.h"

namespace agegate {

struct OnnxExportOptions {
  std::optional<bool> flip_average;  // the variant to export; unset: the model file's default
};

struct OnnxExport {
  bool flip_average = false;
  int opset = 0;
  int64_t nodes = 0;
  int64_t bytes = 0;
  int input_size = 0;
  std::string graph_sha256;  // hex SHA-256 of the serialised graph (ops and weights; not the metadata)
};

inline constexpr int kOnnxOpset = 13;

// The serialised ONNX model of a loaded network (its variant in force) and
// what it is. Throws ModelError when the ONNX checker refuses the graph or a
// module cannot be stated.
std::string onnx_model_bytes(AgeNet& net, const ModelInfo& info, OnnxExport* facts = nullptr);

// Loads `model` (ModelError naming it: missing, corrupt, foreign), writes
// `out` atomically (IoError naming it; nothing half-written stays).
OnnxExport export_onnx(const std::filesystem::path& model, const std::filesystem::path& out,
                       const OnnxExportOptions& options);

}  // namespace agegate
