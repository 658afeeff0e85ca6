// Calibration of the age distribution by temperature scaling, fitted on the
// validation split: probs = softmax(logits / T), T stored as
// ModelInfo::temperature. Also the coverage diagnostics that show whether the
// level-`L` interval holds the real age about L of the time, overall and per band.
//
//   at::Tensor logits = ...;  // [N,K] float, validation photos
//   at::Tensor ages = ...;    // [N] integer labels (clipped to K-1)
//   agegate::CalibrationReport r = agegate::calibrate(logits, ages);
//   info.temperature = r.temperature;
//   info.record.calibration = r.to_json();   // model/training_record.h
//
// Why temperature scaling: one parameter cannot over-fit a validation split
// of a few thousand photos, it keeps the ranking of ages inside every
// distribution (the argmax never moves and the mean moves little), it is
// one number in the model file, and it costs nothing at inference. The
// network's characteristic miscalibration (too sharp after fitting the
// training set with cross-entropy) is a global scale, which is what T fixes.
//
// Which T: by default (kAuto) the NLL-optimal T is used; if its interval
// coverage at `level` is still more than `max_coverage_gap` from `level`, T
// is refitted so the coverage hits `level` directly, because the product
// promises "the 90% interval holds the real age about 90% of the time" and
// NLL can trade interval coverage for sharpness near the mode. The report
// names the method used and keeps both temperatures.
//
// All functions copy the tensors to CPU double once; N x K = 2,000 x 101
// fits in a few hundred milliseconds. Thread-safe (no shared state).
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "agegate/policy/age_distribution.h"

namespace agegate {

enum class CalibrationMethod { kAuto, kNll, kCoverage };

struct CalibrationOptions {
  double level = 0.9;              // interval level whose coverage is reported / targeted
  CalibrationMethod method = CalibrationMethod::kAuto;
  double max_coverage_gap = 0.03;  // kAuto: refit for coverage when |coverage - level| exceeds this
  double min_temperature = 0.05;   // search range for T
  double max_temperature = 20.0;
  // Per-band temperatures: after the global T, each report band of the raw
  // estimate (0-12, 13-17, ...: the mean at T = 1) with at least
  // min_band_count photos gets its own T, fitted so the interval's coverage
  // over the photos estimated in that band is nearest `level` (a scan within
  // 2x of the band's NLL-optimal T: coverage is not monotone in T for
  // children, whose ages stop at 0); coverage_after reports it by the real
  // age's band. A band with fewer photos keeps the global T.
  bool per_band = false;
  int64_t min_band_count = 40;
};

// Interval coverage (see coverage_of() in metrics.h) overall and per age band.
struct CoverageReport {
  double level = 0;
  double overall = 0;
  std::vector<double> by_band;     // parallel to report_age_bands(); NaN when the band is empty
  std::vector<int64_t> band_counts;
  nlohmann::json to_json() const;  // {"level", "overall", "by_band": {"0-12": x, ...}, "band_counts": {...}}
};

struct CalibrationReport {
  double temperature = 1.0;      // the one to store (the global one)
  std::vector<AgeCalibration::Band> bands;  // per_band: one per report band (by raw estimate)
  std::vector<int64_t> band_fit_counts;     // photos whose raw estimate is in each band
  double nll_temperature = 1.0;  // the NLL-optimal one (equal to temperature unless method is coverage)
  std::string method;            // "nll" or "coverage"
  int64_t count = 0;
  double nll_before = 0;  // mean NLL at T = 1, nats per photo
  double nll_after = 0;   // at `temperature`
  CoverageReport coverage_before;
  CoverageReport coverage_after;  // with the bands when fitted
  CoverageReport coverage_global;  // with the global T alone
  AgeCalibration calibration() const;
  nlohmann::json to_json() const;
};

// logits: [N,K] floating, any device; ages: [N] integer dtype, >= 0, ages
// above K-1 are clipped to K-1 (the last bin holds "K-1 and older").
// Throws InvalidInput for empty inputs, wrong shapes or dtypes, negative
// ages, non-finite logits or bad options.
CalibrationReport calibrate(const at::Tensor& logits, const at::Tensor& ages, const CalibrationOptions& options = {});

// Mean negative log-likelihood of the labels under softmax(logits / T).
double mean_nll(const at::Tensor& logits, const at::Tensor& ages, double temperature);
// The T in [min_temperature, max_temperature] minimising mean_nll (golden
// section on log T; the NLL is convex in 1/T, so it is unimodal in log T).
double fit_temperature_nll(const at::Tensor& logits, const at::Tensor& ages, const CalibrationOptions& options = {});
// Coverage of the central `level` interval of the calibrated distributions
// (a double is a global T), overall and by the real age's band.
CoverageReport interval_coverage(const at::Tensor& logits, const at::Tensor& ages, const AgeCalibration& calibration,
                                 double level);

}  // namespace agegate
