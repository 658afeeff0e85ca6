// The training loss (label distribution learning, as DLDL-v2): the KL
// divergence from a Gaussian label distribution around the true age to the
// predicted distribution, plus `l1_weight` times |E[age] - age|.
//
//   AgeLossOptions o;                      // sigma 2 years, L1 weight 0.5
//   AgeLoss l = age_loss(logits, ages, o); // logits [N,K] any float dtype, ages [N] float years
//   l.loss.backward();                     // scalar float32
//   l.expected                             // [N] float32 expected ages, for the running MAE
//
// Why both terms: the KL term trains the whole distribution (the interval and
// P(under 18) come from it); the L1 term pulls its mean, the estimate, onto
// the label. Ages outside 0..K-1 are clamped to the end bins. Thread-safe.
//
// Distillation: with a teacher's distributions [N,K] (rows summing to 1), the
// KL term's target is (1 - distill_weight) * the label's Gaussian +
// distill_weight * the teacher's row; the L1 term still pulls to the label.
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>

namespace agegate {

struct AgeLossOptions {
  double sigma = 2.0;      // width in years of the Gaussian target around the true age
  double l1_weight = 0.5;  // weight of |E[age] - age| next to the KL term (0 = KL alone)
  double distill_weight = 0.5;  // the teacher's share of the KL target, when there is a teacher
  void validate() const;   // InvalidInput naming --label-sigma / --l1-weight / --distill-weight
};

struct AgeLoss {
  at::Tensor loss;      // scalar float32: mean KL + l1_weight * mean |E[age] - age|
  at::Tensor expected;  // [N] float32: expected age of each predicted distribution
};

// [N] float ages -> [N,num_ages] rows that sum to 1: a Gaussian of width
// `sigma` around each (clamped) age, normalised over the bins 0..num_ages-1.
at::Tensor gaussian_targets(const at::Tensor& ages, int64_t num_ages, double sigma);

// teacher: [N,K] distributions to distil, or an undefined tensor for none.
// weights: [N] per-photo weights (group balancing; mean about 1), or
// undefined for equal weights: both terms become weighted means.
AgeLoss age_loss(const at::Tensor& logits, const at::Tensor& ages, const AgeLossOptions& options,
                 const at::Tensor& teacher = {}, const at::Tensor& weights = {});

}  // namespace agegate
