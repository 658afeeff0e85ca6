// The age network: backbone -> dropout -> linear -> logits over ages 0..K-1.
// softmax(logits / temperature) is the age distribution; its mean is the estimate.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <nlohmann/json.hpp>

#include <string>

#include "agegate/model/backbone.h"

namespace agegate {

struct ModelConfig {
  static constexpr int kDefaultNumAges = 101;  // ages 0..100; older labels are clipped to 100
  Backbone backbone = Backbone::kMobileNetV2;
  int num_ages = kDefaultNumAges;
  float dropout = 0.2f;

  nlohmann::json to_json() const;
  static ModelConfig from_json(const nlohmann::json& j);  // throws ModelError
};

class AgeNetImpl : public torch::nn::Module {
 public:
  explicit AgeNetImpl(ModelConfig config);
  // [N,3,S,S] float32 normalised -> [N,num_ages] logits.
  at::Tensor forward(const at::Tensor& x);
  // forward() in eval mode stated to `g` (model/graph_sink.h) for a
  // normalised [N,3,S,S] input named `x`; returns the logits' name.
  std::string describe(GraphSink& g, const std::string& x, int64_t input_size);
  const ModelConfig& config() const { return config_; }
  BackboneImpl& backbone() { return *backbone_; }
  std::vector<at::Tensor> backbone_parameters();
  std::vector<at::Tensor> head_parameters();

 private:
  ModelConfig config_;
  std::shared_ptr<BackboneImpl> backbone_;
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(AgeNet);

// Stores every 4-d parameter (the convolutions' filters) channels-last, in
// place: the same values, a memory layout oneDNN's CPU convolutions run
// faster on, for inference and training alike. Call before an optimiser is
// built over the parameters (its state copies their layout).
void to_channels_last(AgeNet& net);

}  // namespace agegate
