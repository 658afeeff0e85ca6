// Runs a network over labelled rows through the shared loader and
// preprocessing path; used by training (validation), evaluate and calibration.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <vector>

#include "agegate/data/labels.h"
#include "agegate/data/loader.h"
#include "agegate/eval/metrics.h"
#include "agegate/model/age_net.h"

namespace agegate {

struct ModelRun {
  at::Tensor logits;                    // [N,K] float32 CPU, uncalibrated
  at::Tensor ages;                      // [N] int64 CPU, true ages
  std::vector<std::string> file_names;  // [N]
  std::vector<SkippedPhoto> skipped;    // unreadable photos, left out of the above
};

struct RunModelOptions {
  int batch_size = 64;
  int workers = 2;
  c10::Device device = c10::kCPU;
  const char* progress_label = "evaluate";  // nullptr: no progress line
};

// Forward pass in inference mode over every readable photo of `rows`.
ModelRun run_model(AgeNet& net, const PreprocessSpec& spec, const std::vector<LabelRow>& rows,
                   const RunModelOptions& options);

// [N,K] logits -> distributions, softmax(logits / T) with T from the
// calibration (a double converts to a global T).
std::vector<AgeDistribution> to_distributions(const at::Tensor& logits, const AgeCalibration& calibration);
std::vector<Prediction> to_predictions(const ModelRun& run, const AgeCalibration& calibration);

// Normalises a prepared uint8 batch and runs the network: [N,3,S,S] uint8 -> [N,K] logits.
// The one inference path of evaluate, predict, serve and calibration: with
// spec.flip_average the logits are the mean of the network's on the batch
// and on its mirror image (test-time flip averaging).
at::Tensor forward_prepared(AgeNet& net, const PreprocessSpec& spec, const at::Tensor& batch_u8,
                            c10::Device device);

}  // namespace agegate
