// Numeric constants and small statistics shared across components (C++17
// has no std::numbers). Header-only, thread-safe.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

namespace agegate {

inline constexpr double kPi = 3.14159265358979323846;
inline constexpr double kZ95 = 1.959963984540054;  // two-sided 95% normal quantile

// log C(n, k) through lgamma: the hypergeometric probabilities of the audit's
// Fisher test and of the insights' band redraws.
inline double log_choose(int64_t n, int64_t k) {
  return std::lgamma(double(n) + 1) - std::lgamma(double(k) + 1) - std::lgamma(double(n - k) + 1);
}

// Wilson score interval for a share hits/n (95% by default): unlike
// hits/n +- z*sqrt(p(1-p)/n) it stays inside [0,1] and is not empty at 0 or n
// hits, which is where the decision rates live (1 of 101 teenagers passing).
// {NaN, NaN} when n == 0.
inline std::pair<double, double> wilson_interval(int64_t hits, int64_t n, double z = kZ95) {
  if (n <= 0) return {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  const double nn = static_cast<double>(n), p = static_cast<double>(hits) / nn, z2 = z * z;
  const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  const double half = z * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / (1 + z2 / nn);
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

// The standard normal quantile: z with P(Z <= z) = p, for p in (0,1) (NaN
// outside). Bisection on std::erfc to about 1e-12: slow next to a rational
// approximation, but called a handful of times per report.
inline double normal_quantile(double p) {
  if (!(p > 0 && p < 1)) return std::numeric_limits<double>::quiet_NaN();
  double lo = -40, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-13; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace agegate
