// train/checkpoint.h and train/step.h: metrics.csv round trip, a checkpoint
// that restores weights and optimiser state exactly, one real training step.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/optim/adamw.h>

#include <fstream>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/train/checkpoint.h"
#include "agegate/train/loss.h"
#include "agegate/train/step.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;

constexpr int kSize = 32;

Batch random_batch(int n) {
  Batch b;
  b.images = at::randint(0, 256, {n, 3, kSize, kSize}, at::kByte);
  b.ages = at::randint(1, 90, {n}, at::kFloat);
  return b;
}

StepOptions small_step() {
  StepOptions so;
  so.spec.input_size = kSize;
  return so;
}

// For memorising fixed photos: no geometric or colour changes between steps.
StepOptions small_step_without_augmentation() {
  StepOptions so = small_step();
  so.augment.max_rotate_deg = so.augment.max_scale = so.augment.max_shift = 0;
  so.augment.brightness = so.augment.contrast = so.augment.saturation = 0;
  return so;
}

double max_abs_diff(torch::nn::Module& a, torch::nn::Module& b) {
  double worst = 0;
  auto pb = b.named_parameters();
  for (auto& p : a.named_parameters()) worst = std::max(worst, (p.value() - pb[p.key()]).abs().max().item<double>());
  return worst;
}

TEST(MetricsCsv, RoundTripsAndNamesBadLines) {
  fs::path dir = testing::scratch_dir("metrics");
  std::vector<EpochRecord> h = {{1, 3.5, 9.25, 3.1, 8.5, 1e-3, 61.5, 40.25}, {2, 2.5, 7.0, 2.9, 7.75, 5e-4, 60, 41}};
  write_metrics_csv(dir / kMetricsFile, h);
  auto back = read_metrics_csv(dir / kMetricsFile);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].epoch, 2);
  EXPECT_DOUBLE_EQ(back[0].val_mae, 8.5);
  EXPECT_DOUBLE_EQ(back[1].lr, 5e-4);
  EXPECT_EQ(EpochRecord::from_json(h[1].to_json()).to_json(), h[1].to_json());
  std::ofstream(dir / "bad.csv") << "epoch,train_loss,train_mae,val_loss,val_mae,lr,seconds,images_per_s\n"
                                 << "0,1,1,1,1,1,1,1\n";
  try {
    read_metrics_csv(dir / "bad.csv");
    FAIL() << "epoch 0 accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_metrics_csv(dir / "none.csv"), IoError);
}

TEST(Checkpoint, RestoresWeightsOptimiserAndStateExactly) {
  torch::manual_seed(3);
  fs::path dir = testing::scratch_dir("checkpoint");
  ModelConfig c;
  AgeNet net(c);
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-3));
  StepOptions so = small_step();
  Batch batch = random_batch(4);
  train_step(net, opt, batch, so);
  TrainerState st;
  st.next_epoch = 2;
  st.best_epoch = 1;
  st.best_mae = 7.5;
  st.history = {{1, 3.0, 9.0, 3.1, 7.5, 1e-3, 10, 5}};
  st.best_weights = snapshot(*net);
  save_checkpoint(dir / kCheckpointFile, *net, opt, st);

  // Continue the original one more step; a fresh net+optimiser loaded from
  // the checkpoint must take exactly the same step (weights AND Adam moments).
  AgeNet fresh(c);
  torch::optim::AdamW fresh_opt(fresh->parameters(), torch::optim::AdamWOptions(1e-3));
  TrainerState back = load_checkpoint(dir / kCheckpointFile, *fresh, fresh_opt, c10::kCPU);
  EXPECT_EQ(back.next_epoch, 2);
  EXPECT_EQ(back.best_epoch, 1);
  EXPECT_DOUBLE_EQ(back.best_mae, 7.5);
  ASSERT_EQ(back.history.size(), 1u);
  EXPECT_DOUBLE_EQ(back.history[0].val_mae, 7.5);
  EXPECT_EQ(max_abs_diff(*net, *fresh), 0.0);
  // The same seed before each step: the same augmentation and dropout draws.
  torch::manual_seed(5);
  StepResult a = train_step(net, opt, batch, so);
  torch::manual_seed(5);
  StepResult b = train_step(fresh, fresh_opt, batch, so);
  EXPECT_DOUBLE_EQ(a.loss, b.loss);
  EXPECT_EQ(max_abs_diff(*net, *fresh), 0.0);

  // A fresh optimiser (state lost) takes a different step: the check can fail.
  AgeNet lost(c);
  torch::optim::AdamW lost_opt(lost->parameters(), torch::optim::AdamWOptions(1e-3));
  restore(*lost, back.best_weights);
  torch::manual_seed(5);
  train_step(lost, lost_opt, batch, so);
  EXPECT_GT(max_abs_diff(*net, *lost), 0.0);

  std::ofstream(dir / "junk.pt") << "not a checkpoint";
  EXPECT_THROW(load_checkpoint(dir / "junk.pt", *fresh, fresh_opt, c10::kCPU), ModelError);
  EXPECT_THROW(load_checkpoint(dir / "none.pt", *fresh, fresh_opt, c10::kCPU), IoError);
}

TEST(TrainStep, LowersTheLossOnARepeatedBatchAndValidationPassAgrees) {
  torch::manual_seed(11);
  ModelConfig c;
  AgeNet net(c);
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-3));
  StepOptions so = small_step_without_augmentation();  // memorising 8 fixed photos
  Batch batch = random_batch(8);
  batch.ages.fill_(30.0f);  // one age for all: the step must move the distribution there
  StepResult first = train_step(net, opt, batch, so);
  EXPECT_EQ(first.count, 8);
  StepResult last;
  for (int i = 0; i < 30; ++i) last = train_step(net, opt, batch, so);
  EXPECT_LT(last.loss, 0.8 * first.loss) << "first " << first.loss;

  PreparedSet set{batch.images, batch.ages, {"a", "b", "c", "d", "e", "f", "g", "h"}, {}};
  ValidationResult v = validation_pass(net, set, so, /*batch_size=*/3);  // batches of 3, 3, 2
  EXPECT_EQ(v.logits.size(0), 8);
  EXPECT_EQ(v.logits.size(1), c.num_ages);
  ValidationResult whole = validation_pass(net, set, so, /*batch_size=*/8);
  EXPECT_NEAR(v.mae, whole.mae, 1e-4);
  EXPECT_TRUE(at::allclose(v.logits, whole.logits, 1e-4, 1e-4));
}

// Distillation: a student trained on a teacher's distributions (all of the
// KL target, no L1 pull to the label) for a few steps moves towards them,
// away from where the label alone would take it.
TEST(TrainStep, AStudentMovesTowardsItsTeachersDistributions) {
  torch::manual_seed(13);
  ModelConfig c;
  AgeNet net(c);
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-3));
  StepOptions so = small_step_without_augmentation();
  so.loss.l1_weight = 0;
  so.loss.distill_weight = 1.0;
  Batch batch = random_batch(8);
  batch.ages.fill_(20.0f);                                   // the labels say 20
  batch.targets = gaussian_targets(at::full({8}, 60.0f), c.num_ages, 3.0);  // the teacher says 60
  PreparedSet set{batch.images, batch.ages, {"a", "b", "c", "d", "e", "f", "g", "h"}, {}};
  auto kl_to_teacher = [&] {
    const at::Tensor logp = at::log_softmax(validation_pass(net, set, so, 8).logits, 1);
    return (batch.targets * (batch.targets.clamp_min(1e-12).log() - logp)).sum(1).mean().item<double>();
  };
  auto mean_age = [&] {
    const at::Tensor p = at::softmax(validation_pass(net, set, so, 8).logits, 1);
    return (p * at::arange(c.num_ages, at::kFloat)).sum(1).mean().item<double>();
  };
  const double kl_before = kl_to_teacher();
  for (int i = 0; i < 30; ++i) train_step(net, opt, batch, so);
  EXPECT_LT(kl_to_teacher(), 0.5 * kl_before);
  EXPECT_GT(mean_age(), 45.0) << "the student should follow the teacher (60), not the label (20)";
  // Half and half: the target's mass splits between the two ages.
  AgeLossOptions half;
  half.l1_weight = 0;
  const at::Tensor teacher = gaussian_targets(at::full({1}, 60.0f), c.num_ages, 2.0);
  const at::Tensor mixed = 0.5 * gaussian_targets(at::full({1}, 20.0f), c.num_ages, 2.0) + 0.5 * teacher;
  EXPECT_NEAR(age_loss(at::log(mixed.clamp_min(1e-30)), at::full({1}, 20.0f), half, teacher).loss.item<double>(), 0.0, 1e-4);
  EXPECT_THROW(age_loss(at::zeros({2, c.num_ages}), at::full({2}, 20.0f), half, teacher), InvalidInput);
}

}  // namespace
}  // namespace agegate
