// Loads a model once and estimates age distributions of face crops (see estimator.h).
#include "agegate/eval/estimator.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include "agegate/core/run_info.h"
#include "agegate/eval/run_model.h"
#include "agegate/model/model_file.h"

namespace agegate {
namespace {
constexpr size_t kMaxBatch = 32;
}

struct Estimator::Impl {
  LoadedModel model;
  EstimatorOptions options;
};

Estimator::Estimator(const std::filesystem::path& model_file, EstimatorOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->model = load_model_file(model_file, options.flip_average);
  impl_->model.net->eval();
  impl_->options = options;
  if (options.channels_last) to_channels_last(impl_->model.net);
  at::set_num_threads(options.threads > 0 ? options.threads : default_thread_count());
}

Estimator::~Estimator() = default;

std::vector<AgeDistribution> Estimator::estimate(const std::vector<Image>& faces) const {
  c10::InferenceMode guard;  // per thread
  const ModelInfo& info = impl_->model.info;
  const AgeCalibration cal = impl_->options.apply_calibration ? info.calibration() : AgeCalibration(1.0);
  std::vector<AgeDistribution> out;
  out.reserve(faces.size());
  for (size_t start = 0; start < faces.size(); start += kMaxBatch) {
    size_t end = std::min(faces.size(), start + kMaxBatch);
    std::vector<at::Tensor> prepared;
    for (size_t i = start; i < end; ++i) prepared.push_back(prepare(faces[i], info.preprocess));
    at::Tensor batch = at::stack(prepared);
    if (impl_->options.channels_last) batch = batch.contiguous(at::MemoryFormat::ChannelsLast);
    at::Tensor logits = forward_prepared(impl_->model.net, info.preprocess, batch, c10::kCPU);
    for (auto& d : to_distributions(logits, cal)) out.push_back(std::move(d));
  }
  return out;
}

const ModelInfo& Estimator::info() const { return impl_->model.info; }

}  // namespace agegate
