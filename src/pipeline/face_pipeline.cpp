// Photo -> faces -> estimates -> decision (see face_pipeline.h).
#include "agegate/pipeline/face_pipeline.h"

#include <opencv2/core/utility.hpp>

#include <chrono>

#include "agegate/core/run_info.h"
#include "agegate/eval/estimator.h"
#include "agegate/model/model_file.h"
#include "agegate/vision/face_detector.h"

namespace agegate {
namespace {
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }
}  // namespace

struct FacePipeline::Impl {
  PipelineOptions options;
  std::unique_ptr<Estimator> estimator;  // read-only after loading
  std::unique_ptr<FaceDetector> detector;
};

FacePipeline::FacePipeline(PipelineOptions options) : impl_(std::make_unique<Impl>()) {
  options.policy.validate();
  if (options.model.empty()) options.model = default_model_path();
  impl_->options = std::move(options);
  EstimatorOptions eo;
  eo.threads = impl_->options.threads;
  eo.apply_calibration = impl_->options.calibrated;
  eo.channels_last = impl_->options.channels_last;
  eo.flip_average = impl_->options.flip_average;
  impl_->estimator = std::make_unique<Estimator>(impl_->options.model, eo);
  // OpenCV's detection and warping get the same thread count as the tensors
  // (process-wide, as at::set_num_threads is).
  cv::setNumThreads(impl_->options.threads > 0 ? impl_->options.threads : default_thread_count());
  if (impl_->options.detect != DetectMode::kOff) {
    FaceDetectorOptions fo;
    fo.model = impl_->options.detector_model;
    fo.max_side = impl_->options.detect_max_side;
    fo.instances = impl_->options.detectors;
    impl_->detector = std::make_unique<FaceDetector>(fo);
  }
}

FacePipeline::~FacePipeline() = default;

const Policy& FacePipeline::policy() const { return impl_->options.policy; }
const ModelInfo& FacePipeline::model_info() const { return impl_->estimator->info(); }
double FacePipeline::temperature() const { return impl_->options.calibrated ? model_info().temperature : 1.0; }
const PipelineOptions& FacePipeline::options() const { return impl_->options; }

PhotoResult FacePipeline::run(const Image& photo) const {
  PhotoResult r;
  auto t = Clock::now();
  std::vector<FaceCrop> crops = faces_for_estimation(photo, impl_->options.detect, impl_->detector.get(),
                                                     model_info().preprocess.face_crop);
  r.detect_ms = ms_since(t);
  if (crops.empty()) {
    r.no_face_reason = no_face_reason(photo);
    return r;
  }
  t = Clock::now();
  std::vector<Image> images;
  images.reserve(crops.size());
  for (auto& c : crops) images.push_back(std::move(c.image));
  std::vector<AgeDistribution> dists = impl_->estimator->estimate(images);
  for (size_t i = 0; i < crops.size(); ++i) {
    FaceResult f;
    f.box = crops[i].box;
    f.detected = crops[i].detected;
    f.score = crops[i].score;
    f.dist = std::move(dists[i]);
    f.decision = decide(f.dist, policy());
    r.faces.push_back(std::move(f));
  }
  r.estimate_ms = ms_since(t);
  return r;
}

nlohmann::json to_json(const FaceResult& f, const Policy& policy) {
  const PolicyResult& r = f.decision;
  return {{"box", {{"x", f.box.x}, {"y", f.box.y}, {"width", f.box.width}, {"height", f.box.height}}},
          {"detected", f.detected},
          {"score", f.score},
          {"age", r.estimate},
          {"interval", {{"low", r.low}, {"high", r.high}, {"level", policy.interval_level}}},
          {"p_under_legal", r.p_under_legal},
          {"decision", to_string(r.decision)},
          {"reason", r.reason}};
}

}  // namespace agegate
