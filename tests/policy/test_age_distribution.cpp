// AgeDistribution on hand-made distributions whose answers are derived by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "agegate/core/error.h"
#include "agegate/policy/age_distribution.h"
#include "test_support.h"

namespace agegate {
namespace {

constexpr int kAges = 101;

using testing::point_mass;

// 0.1 on each of ages 20..29.
AgeDistribution uniform_20s() {
  AgeDistribution d;
  d.probs.assign(kAges, 0.0);
  for (int a = 20; a <= 29; ++a) d.probs[a] = 0.1;
  return d;
}

// Half the mass on age 10, half on age 40.
AgeDistribution two_bumps() {
  AgeDistribution d;
  d.probs.assign(kAges, 0.0);
  d.probs[10] = 0.5;
  d.probs[40] = 0.5;
  return d;
}

TEST(AgeDistribution, PointMassAt17) {
  AgeDistribution d = point_mass(17);
  d.validate();
  // Mean in completed years: 1 * 17.
  EXPECT_DOUBLE_EQ(d.mean(), 17.0);
  // Real age uniform in [17,18): the 5% and 95% quantiles are 17.05 and 17.95.
  auto [low, high] = d.interval(0.9);
  EXPECT_NEAR(low, 17.05, 1e-12);
  EXPECT_NEAR(high, 17.95, 1e-12);
  EXPECT_NEAR(d.quantile(0.5), 17.5, 1e-12);
  EXPECT_DOUBLE_EQ(d.quantile(0.0), 17.0);
  EXPECT_DOUBLE_EQ(d.quantile(1.0), 18.0);
  // Someone aged 17 is certainly under 18 and certainly not under 17.
  EXPECT_DOUBLE_EQ(d.prob_under(18), 1.0);
  EXPECT_DOUBLE_EQ(d.prob_under(17), 0.0);
  EXPECT_DOUBLE_EQ(d.prob_under(17.25), 0.25);
}

TEST(AgeDistribution, UniformOverTwenties) {
  AgeDistribution d = uniform_20s();
  d.validate();
  // (20 + ... + 29) / 10 = 245 / 10.
  EXPECT_NEAR(d.mean(), 24.5, 1e-12);
  // CDF is (x - 20) / 10 on [20, 30]: quantile(q) = 20 + 10 q.
  auto [low, high] = d.interval(0.9);
  EXPECT_NEAR(low, 20.5, 1e-9);
  EXPECT_NEAR(high, 29.5, 1e-9);
  EXPECT_NEAR(d.quantile(0.5), 25.0, 1e-9);
  auto [l50, h50] = d.interval(0.5);
  EXPECT_NEAR(l50, 22.5, 1e-9);
  EXPECT_NEAR(h50, 27.5, 1e-9);
  EXPECT_NEAR(d.prob_under(25), 0.5, 1e-12);
  EXPECT_NEAR(d.prob_under(21.5), 0.15, 1e-12);
  EXPECT_DOUBLE_EQ(d.prob_under(18), 0.0);
  EXPECT_DOUBLE_EQ(d.prob_under(30), 1.0);
  EXPECT_DOUBLE_EQ(d.prob_under(500), 1.0);
  EXPECT_DOUBLE_EQ(d.prob_under(-3), 0.0);
}

TEST(AgeDistribution, TwoBumps) {
  AgeDistribution d = two_bumps();
  // Mean 0.5*10 + 0.5*40 = 25, though nobody is near 25.
  EXPECT_NEAR(d.mean(), 25.0, 1e-12);
  // 5%: inside bin 10 at 0.05/0.5 = 0.1 -> 10.1; 95%: bin 40 at (0.95-0.5)/0.5 = 0.9 -> 40.9.
  auto [low, high] = d.interval(0.9);
  EXPECT_NEAR(low, 10.1, 1e-9);
  EXPECT_NEAR(high, 40.9, 1e-9);
  // The median is the smallest x with CDF >= 0.5: the end of bin 10.
  EXPECT_NEAR(d.quantile(0.5), 11.0, 1e-9);
  // A quantile just past one half jumps over the empty years to bin 40.
  EXPECT_NEAR(d.quantile(0.6), 40.2, 1e-9);
  EXPECT_NEAR(d.prob_under(18), 0.5, 1e-12);
  EXPECT_NEAR(d.prob_under(40.5), 0.75, 1e-12);
}

TEST(AgeDistribution, FromLogitsIsTemperedSoftmax) {
  // logits (0, ln 3): softmax = (1/4, 3/4); at T = 2: (1, sqrt 3) / (1 + sqrt 3).
  std::vector<double> logits = {0.0, std::log(3.0)};
  AgeDistribution d = AgeDistribution::from_logits(logits.data(), logits.size());
  EXPECT_NEAR(d.probs[0], 0.25, 1e-12);
  EXPECT_NEAR(d.probs[1], 0.75, 1e-12);
  AgeDistribution warm = AgeDistribution::from_logits(logits.data(), logits.size(), 2.0);
  EXPECT_NEAR(warm.probs[0], 1.0 / (1.0 + std::sqrt(3.0)), 1e-12);
  // Large logits must not overflow.
  std::vector<float> big = {1000.f, 1000.f};
  AgeDistribution b = AgeDistribution::from_logits(big.data(), big.size());
  EXPECT_NEAR(b.probs[0], 0.5, 1e-12);
}

TEST(AgeDistribution, RejectsWhatIsNotADistribution) {
  AgeDistribution empty;
  EXPECT_THROW(empty.validate(), InvalidInput);
  AgeDistribution negative = point_mass(3);
  negative.probs[4] = -0.1;
  negative.probs[3] = 1.1;
  try {
    negative.validate();
    FAIL() << "negative probability accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("probs[4]"), std::string::npos) << e.what();
  }
  AgeDistribution nan = point_mass(3);
  nan.probs[0] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(nan.validate(), InvalidInput);
  AgeDistribution short_sum = point_mass(3);
  short_sum.probs[3] = 0.99;
  EXPECT_THROW(short_sum.validate(), InvalidInput);
  AgeDistribution nearly = point_mass(3);
  nearly.probs[3] = 0.9995;  // within the 1e-3 tolerance
  EXPECT_NO_THROW(nearly.validate());

  AgeDistribution d = uniform_20s();
  EXPECT_THROW(d.interval(1.5), InvalidInput);
  EXPECT_THROW(d.interval(0.0), InvalidInput);
  EXPECT_THROW(d.quantile(-0.1), InvalidInput);
  std::vector<double> bad = {0.0, std::numeric_limits<double>::infinity()};
  EXPECT_THROW(AgeDistribution::from_logits(bad.data(), bad.size()), InvalidInput);
  EXPECT_THROW(AgeDistribution::from_logits(bad.data(), 0), InvalidInput);
  std::vector<double> ok = {0.0, 1.0};
  EXPECT_THROW(AgeDistribution::from_logits(ok.data(), ok.size(), 0.0), InvalidInput);
}

}  // namespace
}  // namespace agegate
