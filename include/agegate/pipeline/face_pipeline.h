// Photo -> faces -> estimates -> decision: the one path behind `agegate
// predict` and the service, so both say the same thing about the same photo.
//
//   PipelineOptions o;  o.detect = DetectMode::kAuto;   // model: default_model_path()
//   FacePipeline pipeline(o);        // loads the model and, unless detection is off, YuNet
//   PhotoResult r = pipeline.run(photo);
//   if (r.faces.empty()) { /* no face found: a result, not an error */ }
//   nlohmann::json j = to_json(r.faces[0], pipeline.policy());
//
// Camera frames are cropped with the crop geometry stored in the model
// file's preprocessing spec (the geometry of that model's training photos).
// Thread-safety: run() is const and may be called from many threads at once
// (the model is shared read-only; each detection takes one of the detector's
// `detectors` YuNet networks and waits while all are busy). Errors:
// the constructor throws ModelError (model or detector file) and
// InvalidInput (bad policy); run() throws InvalidInput for an empty image.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <memory>
#include <vector>

#include "agegate/data/image.h"
#include "agegate/policy/age_distribution.h"
#include "agegate/policy/policy.h"
#include "agegate/vision/align.h"

namespace agegate {

struct ModelInfo;

struct PipelineOptions {
  std::filesystem::path model;           // empty: default_model_path()
  std::filesystem::path detector_model;  // empty: the default YuNet
  DetectMode detect = DetectMode::kAuto;
  Policy policy;
  int threads = 0;  // tensor and OpenCV threads (process-wide); 0 = default_thread_count()
  bool calibrated = true;  // false: temperature 1 (the raw distribution), not the model file's
  // Speed (bench/speed.sh measures each against the reference path):
  int detect_max_side = FaceDetectorOptions::kDefaultMaxSide;  // frames are detected at this longer side
  int detectors = 1;          // YuNet instances: detections that run at once (serve: one per slot)
  bool channels_last = true;  // EstimatorOptions::channels_last
  std::optional<bool> flip_average;  // EstimatorOptions::flip_average: unset, the model file's default

  // The path before the speed work, kept as the benchmarks' reference:
  // detection at 640 px by one shared detector, NCHW estimation.
  void use_reference_path() {
    detect_max_side = FaceDetectorOptions::kReferenceMaxSide;
    detectors = 1;
    channels_last = false;
  }
};

struct FaceResult {
  BoxF box;               // in the photo's pixels
  bool detected = false;  // false when the photo itself was the crop
  float score = 0;        // detector confidence; 1 for a photo taken as the crop
  AgeDistribution dist;
  PolicyResult decision;  // estimate, interval at policy.interval_level, reason
};

struct PhotoResult {
  std::vector<FaceResult> faces;  // largest face first
  std::string no_face_reason;     // when faces is empty: no_face_reason() (vision/align.h)
  double detect_ms = 0;
  double estimate_ms = 0;
};

class FacePipeline {
 public:
  explicit FacePipeline(PipelineOptions options);
  ~FacePipeline();
  FacePipeline(const FacePipeline&) = delete;
  FacePipeline& operator=(const FacePipeline&) = delete;

  PhotoResult run(const Image& photo) const;
  const Policy& policy() const;
  const ModelInfo& model_info() const;
  double temperature() const;  // the one applied: the model file's, or 1 when !calibrated
  const PipelineOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// {"box":{x,y,width,height},"detected","score","age","interval":{low,high,level},
//  "p_under_legal","decision","reason"}
nlohmann::json to_json(const FaceResult& face, const Policy& policy);

}  // namespace agegate
