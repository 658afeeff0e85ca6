// Label-distribution loss (see loss.h).
#include "agegate/train/loss.h"

#include <ATen/ATen.h>

#include "agegate/core/error.h"

namespace agegate {
namespace {
// log(0) guard for target bins far from the age (their weight is 0 anyway).
constexpr double kLogFloor = 1e-12;
}  // namespace

void AgeLossOptions::validate() const {
  if (!(sigma > 0)) throw InvalidInput("option --label-sigma: must be positive");
  if (!(l1_weight >= 0)) throw InvalidInput("option --l1-weight: must be >= 0");
  if (!(distill_weight >= 0 && distill_weight <= 1)) throw InvalidInput("option --distill-weight: must be in [0,1]");
}

at::Tensor gaussian_targets(const at::Tensor& ages, int64_t num_ages, double sigma) {
  at::Tensor grid = at::arange(num_ages, ages.options()).unsqueeze(0);
  at::Tensor a = ages.clamp(0, double(num_ages - 1)).unsqueeze(1);
  at::Tensor t = at::exp(-(grid - a).pow(2) / (2.0 * sigma * sigma));
  return t / t.sum(1, /*keepdim=*/true);
}

AgeLoss age_loss(const at::Tensor& logits, const at::Tensor& ages, const AgeLossOptions& options,
                 const at::Tensor& teacher, const at::Tensor& weights) {
  const int64_t k = logits.size(1);
  at::Tensor log_p = at::log_softmax(logits.to(at::kFloat), /*dim=*/1);
  at::Tensor target = gaussian_targets(ages, k, options.sigma);
  if (teacher.defined()) {
    if (teacher.dim() != 2 || teacher.size(0) != logits.size(0) || teacher.size(1) != k) {
      throw InvalidInput("age_loss: teacher distributions must be [N," + std::to_string(k) + "] like the logits");
    }
    target = target * (1.0 - options.distill_weight) + teacher.to(target.device(), at::kFloat) * options.distill_weight;
  }
  at::Tensor kl_rows = (target * (at::log(target.clamp_min(kLogFloor)) - log_p)).sum(1);
  at::Tensor expected = (log_p.exp() * at::arange(k, logits.options().dtype(at::kFloat))).sum(1);
  at::Tensor l1_rows = (expected - ages.clamp(0, double(k - 1))).abs();
  if (weights.defined()) {
    if (weights.dim() != 1 || weights.size(0) != logits.size(0)) {
      throw InvalidInput("age_loss: weights must be [N], one per photo");
    }
    const at::Tensor w = weights.to(kl_rows.device(), at::kFloat);
    const at::Tensor total = w.sum().clamp_min(1e-12);
    return {((kl_rows + options.l1_weight * l1_rows) * w).sum() / total, expected};
  }
  return {kl_rows.mean() + options.l1_weight * l1_rows.mean(), expected};
}

}  // namespace agegate
