// From a predicted age distribution to numbers: estimate, interval, P(under age).
// Torch-free and thread-safe (plain values).
#pragma once
#include <utility>
#include <vector>

namespace agegate {

// probs[a] = P(age in [a, a+1)), a = 0..K-1; sums to 1. Ages inside a bin are
// taken as uniform, so quantiles are continuous.
struct AgeDistribution {
  std::vector<double> probs;

  double mean() const;                                  // expected age (bin centre a+0.5 - 0.5 = a; see .cpp)
  double quantile(double q) const;                      // q in [0,1]
  std::pair<double, double> interval(double level) const;  // central interval, e.g. 0.9
  double prob_under(double age) const;                  // P(true age < age)
  void validate() const;                                // throws InvalidInput if not a distribution
};

}  // namespace agegate
