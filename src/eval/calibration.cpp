// Temperature scaling and coverage diagnostics (see calibration.h). The only
// torch in here is the copy to a CPU double table; the fitting is plain loops.
#include "agegate/eval/calibration.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "agegate/core/error.h"
#include "agegate/core/log.h"
#include "agegate/eval/metrics.h"
#include "agegate/policy/age_distribution.h"

namespace agegate {
namespace {

constexpr int kSearchIterations = 80;  // golden section / bisection steps on log T: far below 1e-6 relative
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Logits [N,K] and clipped labels [N] on the CPU in double.
struct Table {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<double> logits;
  std::vector<int> ages;
  const double* row(int64_t i) const { return logits.data() + i * cols; }
};

Table to_table(const at::Tensor& logits, const at::Tensor& ages) {
  if (!logits.defined() || logits.dim() != 2 || logits.size(0) == 0 || logits.size(1) < 2) {
    throw InvalidInput("calibration: logits must be [N,K] with N >= 1 and K >= 2");
  }
  if (!at::isFloatingType(logits.scalar_type())) throw InvalidInput("calibration: logits must be floating point");
  if (!ages.defined() || ages.dim() != 1 || ages.size(0) != logits.size(0)) {
    throw InvalidInput("calibration: ages must be [N] with N = " + std::to_string(logits.size(0)));
  }
  if (!at::isIntegralType(ages.scalar_type(), /*includeBool=*/false)) {
    throw InvalidInput("calibration: ages must be an integer tensor (whole years)");
  }
  Table t;
  t.rows = logits.size(0);
  t.cols = logits.size(1);
  at::Tensor l = logits.detach().to(at::kCPU, at::kDouble).contiguous();
  at::Tensor a = ages.detach().to(at::kCPU, at::kLong).contiguous();
  t.logits.assign(l.data_ptr<double>(), l.data_ptr<double>() + t.rows * t.cols);
  for (double v : t.logits) {
    if (!std::isfinite(v)) throw InvalidInput("calibration: logits contain a non-finite value");
  }
  const int64_t* ap = a.data_ptr<int64_t>();
  t.ages.resize(t.rows);
  for (int64_t i = 0; i < t.rows; ++i) {
    if (ap[i] < 0) throw InvalidInput("calibration: age " + std::to_string(ap[i]) + " at row " + std::to_string(i) + " < 0");
    t.ages[i] = static_cast<int>(std::min<int64_t>(ap[i], t.cols - 1));
  }
  return t;
}

void check_options(const CalibrationOptions& o) {
  if (!(o.level > 0 && o.level < 1)) throw InvalidInput("calibration: level must be in (0,1), got " + std::to_string(o.level));
  if (!(o.min_temperature > 0 && o.min_temperature < o.max_temperature && std::isfinite(o.max_temperature))) {
    throw InvalidInput("calibration: need 0 < min_temperature < max_temperature");
  }
  if (!(o.max_coverage_gap >= 0)) throw InvalidInput("calibration: max_coverage_gap must be >= 0");
}

// Through AgeDistribution::from_logits, the one softmax; a bin whose
// probability underflows double counts as kMinProb.
double nll(const Table& t, const AgeCalibration& cal) {
  constexpr double kMinProb = 1e-300;
  double sum = 0;
  for (int64_t i = 0; i < t.rows; ++i) {
    AgeDistribution d = cal.distribution(t.row(i), static_cast<size_t>(t.cols));
    sum -= std::log(std::max(d.probs[static_cast<size_t>(t.ages[i])], kMinProb));
  }
  return sum / static_cast<double>(t.rows);
}

CoverageReport coverage(const Table& t, const AgeCalibration& cal, double level) {
  const size_t bands = report_age_bands().size();
  CoverageReport r;
  r.level = level;
  r.by_band.assign(bands, 0.0);
  r.band_counts.assign(bands, 0);
  double total = 0;
  for (int64_t i = 0; i < t.rows; ++i) {
    AgeDistribution d = cal.distribution(t.row(i), static_cast<size_t>(t.cols));
    auto [low, high] = d.interval(level);
    const double c = coverage_of(low, high, t.ages[i]);
    total += c;
    const int b = band_index(t.ages[i]);
    r.by_band[b] += c;
    ++r.band_counts[b];
  }
  r.overall = total / static_cast<double>(t.rows);
  for (size_t b = 0; b < bands; ++b) {
    r.by_band[b] = r.band_counts[b] > 0 ? r.by_band[b] / static_cast<double>(r.band_counts[b]) : kNaN;
  }
  return r;
}

double fit_nll(const Table& t, const CalibrationOptions& o) {
  const double golden = (std::sqrt(5.0) - 1.0) / 2.0;
  double lo = std::log(o.min_temperature), hi = std::log(o.max_temperature);
  double x1 = hi - golden * (hi - lo), x2 = lo + golden * (hi - lo);
  double f1 = nll(t, std::exp(x1)), f2 = nll(t, std::exp(x2));
  for (int it = 0; it < kSearchIterations; ++it) {
    if (f1 <= f2) {
      hi = x2;
      x2 = x1;
      f2 = f1;
      x1 = hi - golden * (hi - lo);
      f1 = nll(t, std::exp(x1));
    } else {
      lo = x1;
      x1 = x2;
      f1 = f2;
      x2 = lo + golden * (hi - lo);
      f2 = nll(t, std::exp(x2));
    }
  }
  return std::exp((lo + hi) / 2.0);
}

// Wider distributions give wider intervals, so coverage grows with T:
// bisection on log T. If the target is out of reach, the nearer end.
double fit_coverage(const Table& t, const CalibrationOptions& o) {
  double lo = std::log(o.min_temperature), hi = std::log(o.max_temperature);
  if (coverage(t, o.min_temperature, o.level).overall >= o.level) return o.min_temperature;
  if (coverage(t, o.max_temperature, o.level).overall <= o.level) return o.max_temperature;
  for (int it = 0; it < kSearchIterations; ++it) {
    const double mid = (lo + hi) / 2.0;
    if (coverage(t, std::exp(mid), o.level).overall < o.level) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return std::exp((lo + hi) / 2.0);
}

// A band's T. Coverage is not monotone in T there (a very wide distribution
// of a child's estimate puts the interval above the real age, since ages
// stop at 0, so coverage falls again), so a bisection on coverage can land
// on the wrong branch. The band's NLL-optimal T (NLL is unimodal in log T)
// marks the right one; then a scan of kBandSteps temperatures within a
// factor kBandRange of it keeps the one whose coverage is nearest the level
// (the nearest to the NLL T among equals).
constexpr double kBandRange = 2.0;
constexpr int kBandSteps = 121;
constexpr int kInterpolationRounds = 3;

// The temperature within a factor kBandRange of `centre` whose coverage is
// nearest `level` (the nearest to `centre` among equals); coverage_at(T) is
// the coverage the caller measures with T in place.
double scan_for_coverage(double centre, double level, const std::function<double(double)>& coverage_at) {
  double best_t = centre, best_gap = std::abs(coverage_at(centre) - level);
  for (int i = 0; i < kBandSteps; ++i) {
    const double temp = centre * std::exp(std::log(kBandRange) * (2.0 * i / (kBandSteps - 1) - 1.0));
    const double gap = std::abs(coverage_at(temp) - level);
    if (gap < best_gap - 1e-12 ||
        (std::abs(gap - best_gap) <= 1e-12 && std::abs(std::log(temp / centre)) < std::abs(std::log(best_t / centre)))) {
      best_gap = gap;
      best_t = temp;
    }
  }
  return best_t;
}

double fit_band_coverage(const Table& t, const CalibrationOptions& o) {
  return scan_for_coverage(fit_nll(t, o), o.level, [&](double temp) { return coverage(t, temp, o.level).overall; });
}

// Per-band temperatures (see CalibrationOptions::per_band): what the model
// knows at the till is its raw estimate, so each band of it gets the T that
// makes the interval hold `level` of the photos estimated in that band
// (fit_band_coverage). Coverage by the real age's band,
// the promise, follows where the estimate's bands are mostly right; the
// report measures it. A band with too few photos keeps the global T.
void fit_band_temperatures(const Table& t, const CalibrationOptions& o, CalibrationReport& r) {
  std::vector<double> raw_mean(static_cast<size_t>(t.rows));
  for (int64_t i = 0; i < t.rows; ++i) {
    raw_mean[i] = AgeDistribution::from_logits(t.row(i), static_cast<size_t>(t.cols), 1.0).mean();
  }
  std::vector<Table> subsets;
  for (const AgeBand& band : report_age_bands()) {
    const int to = std::min<int>(band.high, static_cast<int>(t.cols) - 1);
    if (band.low > to) continue;
    Table sub;
    sub.cols = t.cols;
    for (int64_t i = 0; i < t.rows; ++i) {
      if (raw_mean[i] >= band.low && raw_mean[i] < to + 1) {
        sub.logits.insert(sub.logits.end(), t.row(i), t.row(i) + t.cols);
        sub.ages.push_back(t.ages[i]);
        ++sub.rows;
      }
    }
    const bool fit = sub.rows >= o.min_band_count;
    const double tb = fit ? fit_band_coverage(sub, o) : r.temperature;
    r.bands.push_back({band.low, to, tb});
    r.band_fit_counts.push_back(sub.rows);
    subsets.push_back(std::move(sub));
  }
  // Those are the T of each band taken alone; the calibration interpolates
  // log T between band centres, so photos near a band's edges get a T
  // between two bands'. A few rounds refit each band's T with the others
  // held, on its photos under the interpolated calibration.
  AgeCalibration cal(r.temperature);
  cal.bands = r.bands;
  for (int round = 0; round < kInterpolationRounds; ++round) {
    for (size_t b = 0; b < cal.bands.size(); ++b) {
      if (subsets[b].rows < o.min_band_count) continue;
      const double best_t = scan_for_coverage(cal.bands[b].temperature, o.level, [&](double temp) {
        cal.bands[b].temperature = temp;
        return coverage(subsets[b], cal, o.level).overall;
      });
      cal.bands[b].temperature = best_t;
    }
  }
  r.bands = cal.bands;
  for (size_t b = 0; b < r.bands.size(); ++b) {
    const bool fit = subsets[b].rows >= o.min_band_count;
    log().info("calibration: raw estimate {}-{}: T = {:.3f} ({} photos{})", r.bands[b].from, r.bands[b].to,
               r.bands[b].temperature, subsets[b].rows, fit ? "" : ", too few: the global T");
  }
}

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

nlohmann::json CoverageReport::to_json() const {
  nlohmann::json bands = nlohmann::json::object(), counts = nlohmann::json::object();
  for (size_t b = 0; b < by_band.size() && b < report_age_bands().size(); ++b) {
    bands[report_age_bands()[b].name] = number_or_null(by_band[b]);
    counts[report_age_bands()[b].name] = band_counts[b];
  }
  return {{"level", level}, {"overall", overall}, {"by_band", bands}, {"band_counts", counts}};
}

nlohmann::json CalibrationReport::to_json() const {
  nlohmann::json fits = nlohmann::json::array();
  for (size_t b = 0; b < bands.size(); ++b) {
    fits.push_back({{"from", bands[b].from}, {"to", bands[b].to}, {"temperature", bands[b].temperature},
                    {"photos", b < band_fit_counts.size() ? band_fit_counts[b] : 0}});
  }
  return {{"temperature", temperature},
          {"bands", fits},
          {"coverage_global", coverage_global.to_json()},
          {"nll_temperature", nll_temperature},
          {"method", method},
          {"count", count},
          {"nll_before", nll_before},
          {"nll_after", nll_after},
          {"coverage_before", coverage_before.to_json()},
          {"coverage_after", coverage_after.to_json()}};
}

double mean_nll(const at::Tensor& logits, const at::Tensor& ages, double temperature) {
  if (!(temperature > 0)) throw InvalidInput("calibration: temperature must be > 0");
  return nll(to_table(logits, ages), temperature);
}

double fit_temperature_nll(const at::Tensor& logits, const at::Tensor& ages, const CalibrationOptions& options) {
  check_options(options);
  return fit_nll(to_table(logits, ages), options);
}

CoverageReport interval_coverage(const at::Tensor& logits, const at::Tensor& ages, const AgeCalibration& calibration,
                                 double level) {
  calibration.validate();
  if (!(level > 0 && level < 1)) throw InvalidInput("calibration: level must be in (0,1)");
  return coverage(to_table(logits, ages), calibration, level);
}

AgeCalibration CalibrationReport::calibration() const {
  AgeCalibration c(temperature);
  c.bands = bands;
  return c;
}

CalibrationReport calibrate(const at::Tensor& logits, const at::Tensor& ages, const CalibrationOptions& options) {
  check_options(options);
  const Table t = to_table(logits, ages);
  CalibrationReport r;
  r.count = t.rows;
  r.nll_before = nll(t, 1.0);
  r.coverage_before = coverage(t, 1.0, options.level);
  r.nll_temperature = options.method == CalibrationMethod::kCoverage ? kNaN : fit_nll(t, options);
  r.temperature = r.nll_temperature;
  r.method = "nll";
  bool by_coverage = options.method == CalibrationMethod::kCoverage;
  if (options.method == CalibrationMethod::kAuto) {
    const double gap = std::abs(coverage(t, r.nll_temperature, options.level).overall - options.level);
    by_coverage = gap > options.max_coverage_gap;
    if (by_coverage) {
      log().info("calibration: NLL-optimal T = {:.3f} leaves {:.0f}% coverage {:.1f} points off; fitting T to coverage",
                 r.nll_temperature, options.level * 100, gap * 100);
    }
  }
  if (by_coverage) {
    r.temperature = fit_coverage(t, options);
    r.method = "coverage";
  }
  r.coverage_global = coverage(t, r.temperature, options.level);
  if (options.per_band) fit_band_temperatures(t, options, r);
  r.nll_after = nll(t, r.calibration());
  r.coverage_after = coverage(t, r.calibration(), options.level);
  log().info("calibration: T = {:.3f} ({}), NLL {:.3f} -> {:.3f}, {:.0f}% coverage {:.1f}% -> {:.1f}% on {} photos",
             r.temperature, r.method, r.nll_before, r.nll_after, options.level * 100, r.coverage_before.overall * 100,
             r.coverage_after.overall * 100, r.count);
  return r;
}

}  // namespace agegate
