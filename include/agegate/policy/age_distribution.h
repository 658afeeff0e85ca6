// From a predicted age distribution to numbers: estimate, interval, P(under age).
// Torch-free and thread-safe (plain values).
//
//   agegate::AgeDistribution d = agegate::AgeDistribution::from_logits(row, /*temperature=*/1.2);
//   double est = d.mean();                 // expected age in completed years
//   auto [low, high] = d.interval(0.9);    // real age lies in [low, high] with P = 0.9
//   double p = d.prob_under(18);           // P(real age < 18) = probs[0] + ... + probs[17]
//
// Convention (why it matters: labels are whole years, "real_age" = completed years):
//   probs[a] = P(real age in [a, a+1)), a = 0..K-1. A person "aged 17" has a
//   real age in [17, 18), and inside a bin the real age is taken as uniform, so
//   the CDF is piecewise linear and quantiles interpolate within bins.
//   mean() is sum_a probs[a] * a: the expected age in completed years, i.e. on
//   the scale of the integer labels, so |mean - label| is an unbiased error and
//   matches how the study measured MAE. (The expected real age is mean() + 0.5.)
//   quantile(), interval() and prob_under() are on the continuous real-age
//   scale, because "under 18" means a real age below 18.
#pragma once
#include <cstddef>
#include <utility>
#include <vector>

namespace agegate {

struct AgeDistribution {
  std::vector<double> probs;

  // softmax(logits / temperature) over K ages. Throws InvalidInput when k == 0,
  // temperature <= 0 or a logit is not finite.
  static AgeDistribution from_logits(const float* logits, size_t k, double temperature = 1.0);
  static AgeDistribution from_logits(const double* logits, size_t k, double temperature = 1.0);

  int num_ages() const { return static_cast<int>(probs.size()); }
  double mean() const;  // sum_a probs[a] * a (completed years, see above)
  // Smallest real age x with CDF(x) >= q; q in [0,1] (InvalidInput otherwise).
  // quantile(0) is the start of the first bin with mass, quantile(1) the end of the last.
  double quantile(double q) const;
  // Central interval [quantile((1-level)/2), quantile((1+level)/2)]; level in (0,1).
  std::pair<double, double> interval(double level) const;
  double prob_under(double age) const;  // P(real age < age), interpolated within a bin
  // Throws InvalidInput naming the bin if probs is empty, has a negative or
  // non-finite entry, or does not sum to 1 within kSumTolerance.
  void validate() const;

  static constexpr double kSumTolerance = 1e-3;
};

}  // namespace agegate
