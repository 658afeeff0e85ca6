// Temperature scaling on toy models whose miscalibration is known by
// construction: Gaussian logits of width s around a noisy guess whose real
// error has sd 5. Softmax(logits / T) is a Gaussian of variance T s^2, so the
// right T is about 25 / s^2 (plus a little for the whole-year bins).
#include <gtest/gtest.h>

#include <ATen/ops/from_blob.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "agegate/core/error.h"
#include "agegate/eval/calibration.h"

namespace agegate {
namespace {

constexpr int kAges = 101;
constexpr int kPhotos = 1500;
constexpr double kTrueErrorSd = 5.0;

struct Toy {
  at::Tensor logits;  // [N,K] float32
  at::Tensor ages;    // [N] int64
};

Toy to_toy(std::vector<float>& logits, std::vector<int64_t>& ages) {
  Toy t;
  t.logits = at::from_blob(logits.data(), {kPhotos, kAges}, at::TensorOptions().dtype(at::kFloat)).clone();
  t.ages = at::from_blob(ages.data(), {kPhotos}, at::TensorOptions().dtype(at::kLong)).clone();
  return t;
}

// Errors are Gaussian (sd 5) or, with `uniform_error`, uniform on +-10 (sd
// 5.8): a shape temperature scaling cannot match, whose NLL-optimal
// Gaussian gives a 90% interval that holds about 95%.
Toy gaussian_toy(double width, uint32_t seed, bool uniform_error = false) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> age_of(5, 80);
  std::normal_distribution<double> gaussian(0.0, kTrueErrorSd);
  std::uniform_real_distribution<double> uniform(-10.0, 10.0);
  auto error = [&](std::mt19937& g) { return uniform_error ? uniform(g) : gaussian(g); };
  std::vector<float> logits(static_cast<size_t>(kPhotos) * kAges);
  std::vector<int64_t> ages(kPhotos);
  for (int i = 0; i < kPhotos; ++i) {
    ages[i] = age_of(rng);
    const double centre = ages[i] + 0.5 + error(rng);
    for (int a = 0; a < kAges; ++a) {
      const double d = (a + 0.5 - centre) / width;
      logits[static_cast<size_t>(i) * kAges + a] = static_cast<float>(-0.5 * d * d);
    }
  }
  return to_toy(logits, ages);
}

TEST(Calibration, OverConfidentModelIsWarmed) {
  // Width 1.5 against a real sd of 5: far too sharp, T near 25 / 2.25 = 11.
  Toy toy = gaussian_toy(/*width=*/1.5, /*seed=*/1);
  CalibrationReport r = calibrate(toy.logits, toy.ages);
  EXPECT_GT(r.temperature, 7.0);
  EXPECT_LT(r.temperature, 16.0);
  EXPECT_LT(r.nll_after, r.nll_before);
  EXPECT_LT(r.coverage_before.overall, 0.5);
  EXPECT_NEAR(r.coverage_after.overall, 0.9, 0.03);
  EXPECT_LT(std::abs(r.coverage_after.overall - 0.9), std::abs(r.coverage_before.overall - 0.9));
  // Gaussian noise of fixed sd is what T models, so NLL alone gets coverage right.
  EXPECT_EQ(r.method, "nll");
  EXPECT_DOUBLE_EQ(r.temperature, r.nll_temperature);
  // Per band too, where the band has people (the toy has no one over 80, so 60+ is 60-80).
  for (size_t b = 0; b < r.coverage_after.by_band.size(); ++b) {
    ASSERT_GT(r.coverage_after.band_counts[b], 0);
    EXPECT_NEAR(r.coverage_after.by_band[b], 0.9, 0.06) << "band " << b;
  }
  nlohmann::json j = r.to_json();
  EXPECT_DOUBLE_EQ(j["temperature"].get<double>(), r.temperature);
  EXPECT_TRUE(j["coverage_after"]["by_band"].contains("13-17"));
}

TEST(Calibration, UnderConfidentModelIsCooled) {
  // Width 10 against a real sd of 5: too broad, T near 25 / 100 = 0.25.
  Toy toy = gaussian_toy(/*width=*/10.0, /*seed=*/2);
  CalibrationReport r = calibrate(toy.logits, toy.ages);
  EXPECT_LT(r.temperature, 0.5);
  EXPECT_GT(r.temperature, 0.15);
  EXPECT_LT(r.nll_after, r.nll_before);
  EXPECT_GT(r.coverage_before.overall, 0.97);
  EXPECT_NEAR(r.coverage_after.overall, 0.9, 0.03);
}

TEST(Calibration, NllFitIsTheMinimum) {
  Toy toy = gaussian_toy(/*width=*/3.0, /*seed=*/3);
  const double t = fit_temperature_nll(toy.logits, toy.ages);
  const double at_t = mean_nll(toy.logits, toy.ages, t);
  EXPECT_LT(at_t, mean_nll(toy.logits, toy.ages, t * 1.05));
  EXPECT_LT(at_t, mean_nll(toy.logits, toy.ages, t / 1.05));
}

TEST(Calibration, CoverageMethodHitsTheLevel) {
  Toy toy = gaussian_toy(/*width=*/1.5, /*seed=*/4);
  CalibrationOptions o;
  o.method = CalibrationMethod::kCoverage;
  o.level = 0.8;
  CalibrationReport r = calibrate(toy.logits, toy.ages, o);
  EXPECT_EQ(r.method, "coverage");
  EXPECT_NEAR(r.coverage_after.overall, 0.8, 0.002);
  EXPECT_NEAR(interval_coverage(toy.logits, toy.ages, r.temperature, 0.8).overall, r.coverage_after.overall, 1e-12);
}

// kAuto: when the NLL-optimal T leaves the interval's coverage more than
// max_coverage_gap from its level, T is refitted to the coverage.
TEST(Calibration, AutoSwitchesToCoverageWhenNllMissesTheLevel) {
  Toy toy = gaussian_toy(/*width=*/2.0, /*seed=*/6, /*uniform_error=*/true);
  CalibrationOptions never;
  never.max_coverage_gap = 1.0;  // the control: NLL whatever the coverage
  CalibrationReport nll = calibrate(toy.logits, toy.ages, never);
  EXPECT_EQ(nll.method, "nll");
  EXPECT_GT(nll.coverage_after.overall - 0.9, 0.03) << "the toy must leave NLL's coverage off the level";

  CalibrationReport r = calibrate(toy.logits, toy.ages);  // kAuto, gap 0.03
  EXPECT_EQ(r.method, "coverage");
  EXPECT_NEAR(r.coverage_after.overall, 0.9, 0.005);
  EXPECT_DOUBLE_EQ(r.nll_temperature, nll.temperature);  // both temperatures are kept
  EXPECT_LT(r.temperature, r.nll_temperature);          // narrower intervals: less coverage
  EXPECT_GE(r.nll_after, nll.nll_after);                // bought with a little likelihood
  EXPECT_EQ(r.to_json()["method"], "coverage");
}

TEST(Calibration, AgesAboveTheLastBinAreClipped) {
  // One photo, logits favour the last bin; a label of 130 counts as age K-1.
  std::vector<float> logits(kAges, 0.f);
  logits[kAges - 1] = 5.f;
  at::Tensor l = at::from_blob(logits.data(), {1, kAges}, at::TensorOptions().dtype(at::kFloat)).clone();
  std::vector<int64_t> old = {130}, last = {kAges - 1};
  at::Tensor a_old = at::from_blob(old.data(), {1}, at::TensorOptions().dtype(at::kLong)).clone();
  at::Tensor a_last = at::from_blob(last.data(), {1}, at::TensorOptions().dtype(at::kLong)).clone();
  EXPECT_DOUBLE_EQ(mean_nll(l, a_old, 1.0), mean_nll(l, a_last, 1.0));
}

TEST(Calibration, MisuseIsRejected) {
  Toy toy = gaussian_toy(/*width=*/2.0, /*seed=*/5);
  EXPECT_THROW(calibrate(toy.logits.reshape({-1}), toy.ages), InvalidInput);
  EXPECT_THROW(calibrate(toy.logits, toy.ages.slice(0, 0, 10)), InvalidInput);
  EXPECT_THROW(calibrate(toy.logits, toy.ages.to(at::kFloat)), InvalidInput);
  EXPECT_THROW(calibrate(toy.logits.slice(0, 0, 0), toy.ages.slice(0, 0, 0)), InvalidInput);
  std::vector<int64_t> negative(kPhotos, 30);
  negative[7] = -1;
  at::Tensor bad_ages = at::from_blob(negative.data(), {kPhotos}, at::TensorOptions().dtype(at::kLong)).clone();
  EXPECT_THROW(calibrate(toy.logits, bad_ages), InvalidInput);
  at::Tensor with_nan = toy.logits.clone();
  with_nan.data_ptr<float>()[3] = std::nanf("");
  EXPECT_THROW(calibrate(with_nan, toy.ages), InvalidInput);
  CalibrationOptions o;
  o.level = 1.5;
  EXPECT_THROW(calibrate(toy.logits, toy.ages, o), InvalidInput);
  EXPECT_THROW(mean_nll(toy.logits, toy.ages, 0.0), InvalidInput);
}

}  // namespace
}  // namespace agegate

namespace agegate {
namespace {

// An over-confident model whose real error grows with what it estimates,
// as an age network's does: for an estimate m the real age is m + sd(m) *
// noise, sd from 1.5 years at 0 to 9 at 80, while every distribution has the
// same width 2 around m. One temperature cannot fit both ends.
Toy age_dependent_toy(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> estimate_of(1.0, 85.0);
  std::normal_distribution<double> unit(0.0, 1.0);
  std::vector<float> logits(static_cast<size_t>(kPhotos) * kAges);
  std::vector<int64_t> ages(kPhotos);
  for (int i = 0; i < kPhotos; ++i) {
    const double centre = estimate_of(rng);
    const double sd = 1.5 + 7.5 * centre / 80.0;
    ages[i] = std::clamp<int64_t>(std::llround(std::floor(centre + sd * unit(rng))), 0, kAges - 1);
    for (int a = 0; a < kAges; ++a) {
      const double d = (a + 0.5 - centre) / 2.0;
      logits[static_cast<size_t>(i) * kAges + a] = static_cast<float>(-0.5 * d * d);
    }
  }
  return to_toy(logits, ages);
}

TEST(Calibration, PerBandTemperaturesRestoreCoverageInEveryBand) {
  Toy toy = age_dependent_toy(/*seed=*/7);
  CalibrationOptions o;
  o.method = CalibrationMethod::kCoverage;  // the global T hits 90% overall
  CalibrationReport global = calibrate(toy.logits, toy.ages, o);
  EXPECT_NEAR(global.coverage_after.overall, 0.9, 0.01);
  EXPECT_TRUE(global.bands.empty());
  int outside = 0;
  for (double c : global.coverage_after.by_band) outside += (c < 0.85 || c > 0.95);
  EXPECT_GE(outside, 2) << "one T over-covers children and under-covers older adults";

  o.per_band = true;
  CalibrationReport banded = calibrate(toy.logits, toy.ages, o);
  ASSERT_EQ(banded.bands.size(), 6u);
  for (size_t b = 0; b < banded.coverage_after.by_band.size(); ++b) {
    EXPECT_GE(banded.coverage_after.by_band[b], 0.85) << "band " << b;
    EXPECT_LE(banded.coverage_after.by_band[b], 0.95) << "band " << b;
  }
  // Older estimates need warmer distributions.
  EXPECT_LT(banded.bands.front().temperature, banded.bands.back().temperature);
  EXPECT_EQ(banded.coverage_global.overall, global.coverage_after.overall);
  // What the model file stores gives the same coverage when applied afresh.
  CoverageReport again = interval_coverage(toy.logits, toy.ages, banded.calibration(), 0.9);
  EXPECT_DOUBLE_EQ(again.overall, banded.coverage_after.overall);
}

TEST(Calibration, ABandWithTooFewPhotosKeepsTheGlobalTemperature) {
  Toy toy = age_dependent_toy(/*seed=*/8);
  CalibrationOptions o;
  o.per_band = true;
  o.min_band_count = kPhotos;  // no band has all the photos
  CalibrationReport r = calibrate(toy.logits, toy.ages, o);
  ASSERT_FALSE(r.bands.empty());
  for (const auto& b : r.bands) EXPECT_EQ(b.temperature, r.temperature);
}

TEST(AgeCalibration, InterpolatesLogTBetweenBandCentresAndValidates) {
  AgeCalibration c(2.0);
  c.bands = {{0, 12, 0.5}, {13, 17, 2.0}, {60, 100, 3.0}};
  EXPECT_DOUBLE_EQ(AgeCalibration::band_centre(c.bands[0]), 6.5);
  EXPECT_DOUBLE_EQ(AgeCalibration::band_centre(c.bands[1]), 15.5);
  EXPECT_DOUBLE_EQ(AgeCalibration::band_centre(c.bands[2]), 67.5) << "open-ended: from + 7.5";
  EXPECT_DOUBLE_EQ(c.temperature_for(0.0), 0.5) << "flat before the first centre";
  EXPECT_DOUBLE_EQ(c.temperature_for(6.5), 0.5);
  EXPECT_NEAR(c.temperature_for(11.0), 1.0, 1e-12) << "halfway in log T between 0.5 and 2";
  EXPECT_DOUBLE_EQ(c.temperature_for(15.5), 2.0);
  EXPECT_DOUBLE_EQ(c.temperature_for(99.0), 3.0) << "flat after the last centre";
  // Continuous across a band edge: 12.99 and 13.0 get nearly the same T.
  EXPECT_NEAR(c.temperature_for(12.99), c.temperature_for(13.0), 0.01);
  // A distribution centred on 70 gets the last band's T: its softmax is at T = 3.
  std::vector<float> logits(101);
  for (int a = 0; a < 101; ++a) logits[a] = static_cast<float>(-0.5 * (a - 70) * (a - 70) / 4.0);
  AgeDistribution d = c.distribution(logits.data(), logits.size());
  AgeDistribution at3 = AgeDistribution::from_logits(logits.data(), logits.size(), 3.0);
  EXPECT_EQ(d.probs, at3.probs);
  c.validate();
  AgeCalibration overlap = c;
  overlap.bands[1].from = 12;
  EXPECT_THROW(overlap.validate(), InvalidInput);
  AgeCalibration bad_t = c;
  bad_t.bands[0].temperature = 0;
  EXPECT_THROW(bad_t.validate(), InvalidInput);
}

}  // namespace
}  // namespace agegate
