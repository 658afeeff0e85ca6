// Runs a network over labelled rows and turns logits into distributions (see run_model.h).
#include "agegate/eval/run_model.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "agegate/core/interrupt.h"
#include "agegate/core/progress.h"

namespace agegate {

at::Tensor forward_prepared(AgeNet& net, const PreprocessSpec& spec, const at::Tensor& batch_u8,
                            c10::Device device) {
  at::Tensor x = normalise(batch_u8.to(device, /*non_blocking=*/true), spec);
  if (!spec.flip_average) return net->forward(x).to(at::kFloat).cpu();
  // One pass over the photos and their mirror images (a batch of 2N runs
  // faster than two of N at batch 1), then the mean of the two halves.
  const int64_t n = x.size(0);
  at::Tensor both = net->forward(at::cat({x, x.flip({3})}));
  return ((both.narrow(0, 0, n) + both.narrow(0, n, n)) / 2).to(at::kFloat).cpu();
}

ModelRun run_model(AgeNet& net, const PreprocessSpec& spec, const std::vector<LabelRow>& rows,
                   const RunModelOptions& options) {
  c10::InferenceMode guard;
  net->eval();
  LoaderOptions lo;
  lo.batch_size = options.batch_size;
  lo.workers = options.workers;
  Loader loader(rows, spec, lo);
  loader.start_epoch(0);
  std::vector<at::Tensor> logits, ages;
  ModelRun run;
  std::optional<Progress> progress;
  if (options.progress_label) progress.emplace(options.progress_label, int64_t(rows.size()), "photos");
  int64_t done = 0;
  while (auto batch = loader.next()) {
    if (interrupted()) break;
    logits.push_back(forward_prepared(net, spec, batch->images, options.device));
    ages.push_back(batch->ages.round().to(at::kLong));
    for (int i : batch->indices) run.file_names.push_back(rows[static_cast<size_t>(i)].file_name);
    done += batch->images.size(0);
    if (progress) progress->update(done);
  }
  if (progress) progress->finish();
  run.skipped = loader.skipped();
  int64_t k = net->config().num_ages;
  run.logits = logits.empty() ? at::zeros({0, k}) : at::cat(logits);
  run.ages = ages.empty() ? at::zeros({0}, at::kLong) : at::cat(ages);
  return run;
}

std::vector<AgeDistribution> to_distributions(const at::Tensor& logits, const AgeCalibration& calibration) {
  // The one softmax: AgeDistribution::from_logits, row by row, in double.
  at::Tensor l = logits.to(at::kCPU, at::kDouble).contiguous();
  const int64_t k = l.size(1);
  const double* data = l.data_ptr<double>();
  std::vector<AgeDistribution> out;
  out.reserve(static_cast<size_t>(l.size(0)));
  for (int64_t i = 0; i < l.size(0); ++i) out.push_back(calibration.distribution(data + i * k, static_cast<size_t>(k)));
  return out;
}

std::vector<Prediction> to_predictions(const ModelRun& run, const AgeCalibration& calibration) {
  auto dists = to_distributions(run.logits, calibration);
  std::vector<Prediction> out(dists.size());
  auto ages = run.ages.accessor<int64_t, 1>();
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].file_name = run.file_names[i];
    out[i].real_age = static_cast<int>(ages[static_cast<int64_t>(i)]);
    out[i].dist = std::move(dists[i]);
  }
  return out;
}

}  // namespace agegate
