// The units the trainer loops over, callable on their own by tests and the
// benchmark: one optimisation step on a batch, and one validation pass over
// photos already decoded into memory.
//
//   StepOptions so;  so.spec = spec;  so.device = torch::kCPU;
//   StepResult r = train_step(net, optimizer, batch, so);  // augment, normalise, forward, loss, backward, step
//   ValidationResult v = validation_pass(net, val_set, so, /*batch_size=*/64);
//
// train_step() leaves `net` in training mode; validation_pass() puts it in
// eval mode under inference mode and returns uncalibrated logits. Neither
// sets the learning rate (the caller's schedule does). Not thread-safe for
// one network: a network trains on one thread.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>

#include "agegate/data/augment.h"
#include "agegate/data/loader.h"
#include "agegate/data/preprocess.h"
#include "agegate/model/age_net.h"
#include "agegate/train/loss.h"

namespace torch::optim {
class Optimizer;
}

namespace agegate {

class GradientReducer;

struct StepOptions {
  PreprocessSpec spec;
  AugmentOptions augment;
  AgeLossOptions loss;
  c10::Device device = c10::kCPU;
  bool mixed_precision = false;  // bf16 autocast for the forward pass; CUDA only
  // Batches in channels-last memory (the network's filters should be too:
  // to_channels_last() in model/age_net.h); the same values, faster CPU convolutions.
  bool channels_last = false;
};

struct StepResult {
  double loss = 0;           // the batch's mean loss
  double abs_error_sum = 0;  // sum of |E[age] - age| over the batch, years
  int64_t count = 0;         // photos in the batch
};

// Data-parallel training (train/distributed.h): this rank's batch is a share
// of the global batch. Its mean loss is scaled by loss_scale (its share of
// the global loss denominator: photos, or their weights), and the reducer
// sums the gradients over ranks between backward() and the optimiser step,
// so every rank steps with the gradient of the whole global batch.
struct StepSync {
  double loss_scale = 1.0;
  GradientReducer* reducer = nullptr;
};

// batch.images: [N,3,S,S] uint8 RGB (any device); batch.ages: [N] float years.
StepResult train_step(AgeNet& net, torch::optim::Optimizer& optimizer, const Batch& batch,
                      const StepOptions& options, const StepSync& sync = {});

struct ValidationResult {
  double loss = 0;    // mean loss of the set, uncalibrated
  double mae = 0;     // years
  at::Tensor logits;  // [N,K] float32 CPU, in the set's order
};

// Inference-mode forward pass over `set` in batches: [N,K] float32 CPU logits.
at::Tensor set_logits(AgeNet& net, const PreparedSet& set, const PreprocessSpec& spec, c10::Device device,
                      int batch_size);
ValidationResult validation_pass(AgeNet& net, const PreparedSet& set, const StepOptions& options,
                                 int batch_size);
// Rows [begin, end) of a prepared set (views, no copy): a rank's share of validation.
PreparedSet slice_of(const PreparedSet& set, int64_t begin, int64_t end);

}  // namespace agegate
