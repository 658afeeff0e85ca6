// AgeDistribution: moments, quantiles and tail probabilities of a binned age
// distribution (bins are whole years; see the header for the convention).
#include "agegate/policy/age_distribution.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "agegate/core/age_band.h"
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

namespace {

template <typename T>
double raw_mean(const T* logits, size_t k) {
  return softmax(logits, k, 1.0).mean();
}

}  // namespace

double AgeCalibration::band_centre(const Band& b) {
  const int span = b.to - b.from + 1;
  return span > 2 * kOpenEndedBandSpan ? b.from + kOpenEndedBandSpan / 2.0 : b.from + span / 2.0;
}

double AgeCalibration::temperature_for(double mean) const {
  if (bands.empty()) return temperature;
  if (mean <= band_centre(bands.front())) return bands.front().temperature;
  for (size_t i = 1; i < bands.size(); ++i) {
    const double c0 = band_centre(bands[i - 1]), c1 = band_centre(bands[i]);
    if (mean <= c1) {
      const double w = (mean - c0) / (c1 - c0);
      return std::exp((1 - w) * std::log(bands[i - 1].temperature) + w * std::log(bands[i].temperature));
    }
  }
  return bands.back().temperature;
}

double AgeCalibration::temperature_for(const float* logits, size_t k) const {
  return bands.empty() ? temperature : temperature_for(raw_mean(logits, k));
}

double AgeCalibration::temperature_for(const double* logits, size_t k) const {
  return bands.empty() ? temperature : temperature_for(raw_mean(logits, k));
}

AgeDistribution AgeCalibration::distribution(const float* logits, size_t k) const {
  return softmax(logits, k, temperature_for(logits, k));
}

AgeDistribution AgeCalibration::distribution(const double* logits, size_t k) const {
  return softmax(logits, k, temperature_for(logits, k));
}

nlohmann::json AgeCalibration::to_json() const {
  nlohmann::json j = {{"temperature", temperature}};
  if (!bands.empty()) {
    j["bands"] = nlohmann::json::array();
    for (const auto& b : bands) j["bands"].push_back({{"from", b.from}, {"to", b.to}, {"temperature", b.temperature}});
  }
  return j;
}

void AgeCalibration::validate() const {
  auto bad_t = [](double t) { return !(std::isfinite(t) && t > 0); };
  if (bad_t(temperature)) throw InvalidInput("calibration: temperature must be positive, got " + std::to_string(temperature));
  for (size_t i = 0; i < bands.size(); ++i) {
    const auto& b = bands[i];
    const std::string where = "calibration band " + std::to_string(i) + " (" + std::to_string(b.from) + "-" +
                              std::to_string(b.to) + ")";
    if (bad_t(b.temperature)) throw InvalidInput(where + ": temperature must be positive");
    if (b.from < 0 || b.to < b.from) throw InvalidInput(where + ": needs 0 <= from <= to");
    if (i > 0 && b.from <= bands[i - 1].to) throw InvalidInput(where + ": overlaps or precedes the band before it");
  }
}

}  // namespace agegate

