// AgeNet: backbone -> dropout -> linear head over ages, and its config JSON.
#include "agegate/model/age_net.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "agegate/core/error.h"

namespace agegate {
namespace {

[[noreturn]] void bad_field(const std::string& field, const std::string& why) {
  throw ModelError("model config field '" + field + "': " + why);
}

}  // namespace

nlohmann::json ModelConfig::to_json() const {
  return {{"backbone", to_string(backbone)}, {"num_ages", num_ages}, {"dropout", dropout}};
}

ModelConfig ModelConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw ModelError("model config is not a JSON object");
  ModelConfig c;
  if (!j.contains("backbone") || !j["backbone"].is_string()) bad_field("backbone", "missing or not a string");
  try {
    c.backbone = parse_backbone(j["backbone"].get<std::string>());
  } catch (const InvalidInput& e) {
    bad_field("backbone", e.what());
  }
  if (!j.contains("num_ages") || !j["num_ages"].is_number_integer()) {
    bad_field("num_ages", "missing or not an integer");
  }
  c.num_ages = j["num_ages"].get<int>();
  if (c.num_ages < 2) bad_field("num_ages", std::to_string(c.num_ages) + " is below 2");
  if (j.contains("dropout")) {
    if (!j["dropout"].is_number()) bad_field("dropout", "not a number");
    c.dropout = j["dropout"].get<float>();
    if (!(c.dropout >= 0.0f && c.dropout < 1.0f)) {
      bad_field("dropout", std::to_string(c.dropout) + " is outside [0,1)");
    }
  }
  return c;
}

AgeNetImpl::AgeNetImpl(ModelConfig config) : config_(std::move(config)) {
  // Validates the same way a loaded file does, so a bad config fails here too.
  config_ = ModelConfig::from_json(config_.to_json());
  backbone_ = register_module("backbone", make_backbone(config_.backbone));
  dropout_ = register_module("dropout", torch::nn::Dropout(config_.dropout));
  head_ = register_module("head", torch::nn::Linear(backbone_->feature_dim(), config_.num_ages));
}

at::Tensor AgeNetImpl::forward(const at::Tensor& x) {
  return head_->forward(dropout_->forward(backbone_->forward(x)));
}

std::string AgeNetImpl::describe(GraphSink& g, const std::string& x, int64_t input_size) {
  // Dropout is the identity at inference.
  return g.linear(backbone_->describe(g, x, input_size), head_->weight, head_->bias);
}

void to_channels_last(AgeNet& net) {
  at::NoGradGuard no_grad;
  for (at::Tensor& p : net->parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

std::vector<at::Tensor> AgeNetImpl::backbone_parameters() { return backbone_->parameters(); }

std::vector<at::Tensor> AgeNetImpl::head_parameters() { return head_->parameters(); }

}  // namespace agegate
