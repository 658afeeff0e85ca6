// One training step and one validation pass (see step.h).
#include "agegate/train/step.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/InferenceMode.h>
#include <torch/optim/optimizer.h>
#include <torch/version.h>

#include <algorithm>

#include "agegate/eval/run_model.h"
#include "agegate/train/distributed.h"

namespace agegate {
namespace {

// bf16 autocast on CUDA; the API moved between LibTorch 1.13 (Debian's) and 2.4+.
void set_autocast(bool on) {
#if TORCH_VERSION_MAJOR >= 2 && TORCH_VERSION_MINOR >= 4 || TORCH_VERSION_MAJOR >= 3
  at::autocast::set_autocast_enabled(at::kCUDA, on);
  if (on) at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
#else
  at::autocast::set_enabled(on);
  if (on) at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
#endif
  if (!on) at::autocast::clear_cache();
}

}  // namespace

StepResult train_step(AgeNet& net, torch::optim::Optimizer& optimizer, const Batch& batch,
                      const StepOptions& options, const StepSync& sync) {
  net->train();
  if (batch.images.size(0) == 0) {
    // A rank whose share of the batch is empty still takes part in the
    // exchange (adding zeros) and steps with the others.
    optimizer.zero_grad();
    if (sync.reducer) sync.reducer->sum_gradients();
    optimizer.step();
    return {};
  }
  const bool amp = options.mixed_precision && options.device.is_cuda();
  at::Tensor images = batch.images.to(options.device, /*non_blocking=*/true);
  at::Tensor ages = batch.ages.to(options.device);
  at::Tensor x = normalise(augment(images, options.augment), options.spec, /*already_unit=*/true);
  if (options.channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  if (amp) set_autocast(true);
  at::Tensor logits = net->forward(x);
  if (amp) set_autocast(false);
  AgeLoss l = age_loss(logits, ages, options.loss, batch.targets, batch.weights);
  optimizer.zero_grad();
  if (sync.loss_scale == 1.0) l.loss.backward();
  else (l.loss * sync.loss_scale).backward();
  if (sync.reducer) sync.reducer->sum_gradients();
  optimizer.step();
  StepResult r;
  r.count = images.size(0);
  r.loss = l.loss.item<double>();
  r.abs_error_sum = (l.expected.detach() - ages).abs().sum().item<double>();
  return r;
}

at::Tensor set_logits(AgeNet& net, const PreparedSet& set, const PreprocessSpec& spec, c10::Device device,
                      int batch_size) {
  c10::InferenceMode guard;
  net->eval();
  std::vector<at::Tensor> outs;
  const int64_t n = set.images.size(0);
  for (int64_t i = 0; i < n; i += batch_size) {
    outs.push_back(forward_prepared(net, spec, set.images.slice(0, i, std::min(n, i + batch_size)), device));
  }
  return at::cat(outs);
}

ValidationResult validation_pass(AgeNet& net, const PreparedSet& set, const StepOptions& options,
                                 int batch_size) {
  ValidationResult v;
  v.logits = set_logits(net, set, options.spec, options.device, batch_size);
  c10::InferenceMode guard;
  AgeLoss l = age_loss(v.logits, set.ages, options.loss);
  v.loss = l.loss.item<double>();
  v.mae = (l.expected - set.ages).abs().mean().item<double>();
  return v;
}

PreparedSet slice_of(const PreparedSet& set, int64_t begin, int64_t end) {
  PreparedSet s;
  s.images = set.images.slice(0, begin, end);
  s.ages = set.ages.slice(0, begin, end);
  s.file_names.assign(set.file_names.begin() + begin, set.file_names.begin() + end);
  return s;
}

}  // namespace agegate
