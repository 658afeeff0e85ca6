// The inference object behind predict and serve (pipeline/face_pipeline.h). Loads a model
// file once; estimate() is const and thread-safe (each call enters its own
// inference mode), so many request threads can share one Estimator.
//
//   agegate::Estimator est(agegate::default_model_path());
//   auto dists = est.estimate({face});   // aligned face crops, any size
//   double age = dists[0].mean();
#pragma once
#include <filesystem>
#include <optional>
#include <memory>
#include <vector>

#include "agegate/data/image.h"
#include "agegate/policy/age_distribution.h"

namespace agegate {

struct ModelInfo;

struct EstimatorOptions {
  int threads = 0;  // intra-op threads; 0 = default_thread_count()
  bool apply_calibration = true;
  // Weights and inputs in channels-last (NHWC) memory, which oneDNN's
  // convolutions run without reordering every layer. false: the NCHW
  // reference path (bench/speed.sh). Both give the same estimates within
  // 1e-3 years (FacePipeline.TheFastPathGivesTheReferencePathsAnswersOnRealPhotos).
  bool channels_last = true;
  // With or without test-time flip averaging, each with its own calibration
  // from the model file; unset: the file's default.
  std::optional<bool> flip_average;
};

class Estimator {
 public:
  explicit Estimator(const std::filesystem::path& model_file, EstimatorOptions options = {});
  ~Estimator();
  Estimator(const Estimator&) = delete;
  Estimator& operator=(const Estimator&) = delete;

  // Aligned face crops (as in final_files/) -> one distribution each.
  std::vector<AgeDistribution> estimate(const std::vector<Image>& faces) const;
  const ModelInfo& info() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace agegate
