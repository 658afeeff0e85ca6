// AgeDistribution: moments, quantiles and tail probabilities of a binned age
// distribution (bins are whole years; see the header for the convention).
#include "agegate/policy/age_distribution.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "agegate/core/error.h"

namespace agegate {
namespace {

// Small probability differences are normalised away: callers may hand us
// float softmax output whose sum is 1 only to ~1e-6.
double total_mass(const std::vector<double>& p) {
  double s = 0;
  for (double v : p) s += v;
  return s;
}

template <typename T>
AgeDistribution softmax(const T* logits, size_t k, double temperature) {
  if (k == 0) throw InvalidInput("age distribution: no logits");
  if (!(temperature > 0) || !std::isfinite(temperature)) {
    throw InvalidInput("age distribution: temperature must be > 0, got " + std::to_string(temperature));
  }
  double top = -INFINITY;
  for (size_t a = 0; a < k; ++a) {
    double v = static_cast<double>(logits[a]);
    if (!std::isfinite(v)) throw InvalidInput("age distribution: logit " + std::to_string(a) + " is not finite");
    top = std::max(top, v);
  }
  AgeDistribution d;
  d.probs.resize(k);
  double sum = 0;
  for (size_t a = 0; a < k; ++a) {
    d.probs[a] = std::exp((static_cast<double>(logits[a]) - top) / temperature);
    sum += d.probs[a];
  }
  for (double& v : d.probs) v /= sum;
  return d;
}

}  // namespace

AgeDistribution AgeDistribution::from_logits(const float* logits, size_t k, double temperature) {
  return softmax(logits, k, temperature);
}
AgeDistribution AgeDistribution::from_logits(const double* logits, size_t k, double temperature) {
  return softmax(logits, k, temperature);
}

void AgeDistribution::validate() const {
  if (probs.empty()) throw InvalidInput("age distribution is empty (no age bins)");
  double sum = 0;
  for (size_t a = 0; a < probs.size(); ++a) {
    if (!std::isfinite(probs[a]) || probs[a] < 0) {
      throw InvalidInput("age distribution: probs[" + std::to_string(a) + "] = " + std::to_string(probs[a]) +
                         " is not a probability");
    }
    sum += probs[a];
  }
  if (std::abs(sum - 1.0) > kSumTolerance) {
    throw InvalidInput("age distribution sums to " + std::to_string(sum) + ", not 1");
  }
}

double AgeDistribution::mean() const {
  double s = 0;
  for (size_t a = 0; a < probs.size(); ++a) s += probs[a] * static_cast<double>(a);
  return s / total_mass(probs);
}

double AgeDistribution::quantile(double q) const {
  if (!(q >= 0 && q <= 1)) throw InvalidInput("quantile level must be in [0,1], got " + std::to_string(q));
  const double total = total_mass(probs);
  AGEGATE_CHECK(total > 0, "quantile of an empty distribution");
  const double target = q * total;
  double before = 0;
  int last_with_mass = 0;
  for (size_t a = 0; a < probs.size(); ++a) {
    if (probs[a] <= 0) continue;
    last_with_mass = static_cast<int>(a);
    if (before + probs[a] >= target) {
      double frac = std::clamp((target - before) / probs[a], 0.0, 1.0);
      return static_cast<double>(a) + frac;
    }
    before += probs[a];
  }
  // Rounding left target a hair above the running sum: the top of the support.
  return static_cast<double>(last_with_mass) + 1.0;
}

std::pair<double, double> AgeDistribution::interval(double level) const {
  if (!(level > 0 && level < 1)) throw InvalidInput("interval level must be in (0,1), got " + std::to_string(level));
  const double tail = (1.0 - level) / 2.0;
  return {quantile(tail), quantile(1.0 - tail)};
}

double AgeDistribution::prob_under(double age) const {
  if (std::isnan(age)) throw InvalidInput("prob_under: age is NaN");
  const double total = total_mass(probs);
  AGEGATE_CHECK(total > 0, "prob_under of an empty distribution");
  if (age <= 0) return 0.0;
  double below = 0;
  const size_t whole = static_cast<size_t>(std::min(std::floor(age), static_cast<double>(probs.size())));
  for (size_t a = 0; a < whole; ++a) below += probs[a];
  if (whole < probs.size()) below += probs[whole] * (age - static_cast<double>(whole));
  return std::min(below / total, 1.0);
}

}  // namespace agegate
