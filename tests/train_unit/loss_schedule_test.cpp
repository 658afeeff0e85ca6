// train/loss.h and train/schedule.h: the loss's minimum, gradients at the
// ends of the age range, what sigma and the L1 weight do; the schedule's shape.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <cmath>

#include "agegate/core/error.h"
#include "agegate/train/loss.h"
#include "agegate/train/schedule.h"

namespace agegate {
namespace {

constexpr int64_t kAges = 101;

// Logits whose softmax is (close to) `probs`.
at::Tensor logits_of(const at::Tensor& probs) { return at::log(probs.clamp_min(1e-30)); }

TEST(Loss, GaussianTargetsAreNormalisedAndCentred) {
  at::Tensor t = gaussian_targets(at::tensor({30.0f, 0.0f, 150.0f}), kAges, 2.0);
  EXPECT_NEAR(t.sum(1).sub(1).abs().max().item<double>(), 0.0, 1e-6);
  EXPECT_EQ(t[0].argmax().item<int64_t>(), 30);
  EXPECT_EQ(t[1].argmax().item<int64_t>(), 0);
  EXPECT_EQ(t[2].argmax().item<int64_t>(), kAges - 1);  // clamped to the last bin
}

TEST(Loss, TheTargetDistributionItselfGivesTheMinimum) {
  AgeLossOptions o;
  o.l1_weight = 0.0;  // KL alone: its minimum is exactly the target
  at::Tensor ages = at::tensor({17.0f});
  at::Tensor target = gaussian_targets(ages, kAges, o.sigma);
  const double at_target = age_loss(logits_of(target), ages, o).loss.item<double>();
  EXPECT_NEAR(at_target, 0.0, 1e-4);
  for (float other : {16.0f, 18.0f, 25.0f}) {
    at::Tensor off = gaussian_targets(at::tensor({other}), kAges, o.sigma);
    EXPECT_GT(age_loss(logits_of(off), ages, o).loss.item<double>(), at_target + 1e-3) << other;
  }
  // With the L1 term, a point mass at the true age beats a point mass a year off.
  AgeLossOptions both;
  auto point = [](int age) { return at::one_hot(at::tensor({int64_t(age)}), kAges).to(at::kFloat) * 30.0; };
  EXPECT_LT(age_loss(point(17), ages, both).loss.item<double>(), age_loss(point(18), ages, both).loss.item<double>());
  EXPECT_NEAR(age_loss(point(17), ages, both).expected.item<double>(), 17.0, 1e-3);
}

TEST(Loss, GradientsAreFiniteAtBothEndsOfTheRange) {
  for (float age : {0.0f, 100.0f}) {
    at::Tensor logits = at::randn({4, kAges}).mul_(5).requires_grad_();
    AgeLoss l = age_loss(logits, at::full({4}, age), AgeLossOptions{});
    l.loss.backward();
    EXPECT_TRUE(std::isfinite(l.loss.item<double>())) << age;
    EXPECT_TRUE(logits.grad().isfinite().all().item<bool>()) << age;
  }
}

TEST(Loss, SigmaWidensTheTargetAndTheL1WeightScalesTheL1Term) {
  at::Tensor ages = at::tensor({40.0f});
  at::Tensor narrow = gaussian_targets(ages, kAges, 1.0), wide = gaussian_targets(ages, kAges, 4.0);
  EXPECT_GT(narrow[0][40].item<double>(), wide[0][40].item<double>());
  auto variance = [](const at::Tensor& t) {
    at::Tensor a = at::arange(kAges, at::kFloat);
    return ((a - 40).pow(2) * t[0]).sum().item<double>();
  };
  EXPECT_NEAR(variance(narrow), 1.0, 0.05);
  EXPECT_NEAR(variance(wide), 16.0, 0.5);

  // loss(w) = KL + w * L1, so loss(1) - loss(0) is the mean |E - age|.
  at::Tensor logits = at::randn({3, kAges});
  at::Tensor three = at::tensor({10.0f, 30.0f, 60.0f});
  AgeLossOptions w0, w1;
  w0.l1_weight = 0;
  w1.l1_weight = 1;
  AgeLoss l0 = age_loss(logits, three, w0), l1 = age_loss(logits, three, w1);
  const double mae = (l1.expected - three).abs().mean().item<double>();
  EXPECT_NEAR(l1.loss.item<double>() - l0.loss.item<double>(), mae, 1e-4);

  AgeLossOptions bad;
  bad.sigma = 0;
  EXPECT_THROW(bad.validate(), InvalidInput);
  bad = AgeLossOptions{};
  bad.l1_weight = -1;
  EXPECT_THROW(bad.validate(), InvalidInput);
}

TEST(Schedule, WarmsUpThenDecaysToTheFloor) {
  LrSchedule s{/*warmup_epochs=*/1.0, /*total_epochs=*/9};
  EXPECT_DOUBLE_EQ(s.scale(0.0), LrSchedule::kMinWarmup);
  EXPECT_DOUBLE_EQ(s.scale(0.5), 0.5);
  EXPECT_DOUBLE_EQ(s.scale(1.0), 1.0);
  EXPECT_NEAR(s.scale(5.0), s.floor + (1 - s.floor) * 0.5, 1e-12);  // half way through the decay
  EXPECT_NEAR(s.scale(9.0), s.floor, 1e-12);
  EXPECT_NEAR(s.scale(20.0), s.floor, 1e-12);
  for (double e = 1.0; e < 9.0; e += 0.25) EXPECT_GE(s.scale(e), s.scale(e + 0.25)) << e;
}

}  // namespace
}  // namespace agegate
