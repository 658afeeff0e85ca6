// A network's inference function, described op by op. Each backbone states
// its forward pass (in eval mode: batch-norm with running statistics, no
// dropout) to a GraphSink beside its forward(), so the wiring lives in one
// file; an exporter (export/onnx_export.h) turns the ops into another
// format, and tests/model/graph_sink_test.cpp runs them with ATen to check
// the description against forward() for every backbone.
//
// Values are named by strings. Every op returns the name of its output.
// Tensors passed in are the module's own parameters and buffers.
//
//   std::string logits = net->describe(sink, "x", /*input_size=*/150);
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace agegate {

class GraphSink {
 public:
  virtual ~GraphSink() = default;

  struct Conv {
    int64_t stride = 1;
    int64_t pad = 0;  // the same on all four sides
    int64_t groups = 1;
  };
  // 2-d convolution; `bias` may be undefined (no bias).
  virtual std::string conv(const std::string& x, const at::Tensor& weight, const at::Tensor& bias,
                           const Conv& spec) = 0;
  // Batch-norm with running statistics: (x - mean) / sqrt(var + eps) * weight + bias.
  virtual std::string batch_norm(const std::string& x, const at::Tensor& weight, const at::Tensor& bias,
                                 const at::Tensor& mean, const at::Tensor& var, double eps) = 0;
  virtual std::string relu(const std::string& x) = 0;
  virtual std::string clip(const std::string& x, float lo, float hi) = 0;
  virtual std::string add(const std::string& a, const std::string& b) = 0;
  virtual std::string max_pool(const std::string& x, int64_t kernel, int64_t stride, int64_t pad) = 0;
  virtual std::string avg_pool(const std::string& x, int64_t kernel, int64_t stride) = 0;
  // Zeros appended after the last channel, below the last row and right of the last column.
  virtual std::string pad_end(const std::string& x, int64_t channels, int64_t rows, int64_t cols) = 0;
  // [N,C,H,W] -> [N,C], the mean over H and W.
  virtual std::string global_mean(const std::string& x) = 0;
  // [N,I] -> [N,O]: x * weight^T + bias, weight [O,I].
  virtual std::string linear(const std::string& x, const at::Tensor& weight, const at::Tensor& bias) = 0;
};

}  // namespace agegate
