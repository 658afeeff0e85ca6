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
#include <nlohmann/json.hpp>

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

// A model's calibration (eval/calibration.h fits it on validation photos):
// probs = softmax(logits / T), where T is one global temperature or, when
// `bands` is set, depends on the raw estimate m (the mean of softmax(logits)
// at T = 1): each band's T holds at the band's centre (an open-ended last
// band's centre is from + 7.5), log T is linear in m between centres and
// flat beyond the first and last. A T per band keeps the interval's
// coverage in every age band, where one T leaves children over-covered and
// older adults under-covered; interpolating keeps P(under 18) continuous in
// the estimate. Implicit from a double (a global T).
struct AgeCalibration {
  struct Band {
    int from = 0;  // the band of raw estimates [from, to + 1) whose centre has `temperature`
    int to = 0;
    double temperature = 1.0;
  };
  static double band_centre(const Band& b);
  double temperature = 1.0;
  std::vector<Band> bands;

  AgeCalibration() = default;
  AgeCalibration(double global_temperature) : temperature(global_temperature) {}  // NOLINT: implicit on purpose
  double temperature_for(double raw_mean) const;
  // The temperature this row of logits gets.
  double temperature_for(const float* logits, size_t k) const;
  double temperature_for(const double* logits, size_t k) const;
  AgeDistribution distribution(const float* logits, size_t k) const;
  AgeDistribution distribution(const double* logits, size_t k) const;
  // {"temperature": T} plus "bands": [{"from","to","temperature"}] when set.
  nlohmann::json to_json() const;
  // InvalidInput naming the field: a non-positive or non-finite T, bands
  // out of order or overlapping.
  void validate() const;
};

}  // namespace agegate
