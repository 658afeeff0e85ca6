// YuNet through cv::FaceDetectorYN; see face_detector.h.
#include "agegate/vision/face_detector.h"

#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect/face.hpp>

#include <algorithm>
#include <cmath>

#include "agegate/core/error.h"
#include "agegate/core/run_info.h"
#include "cv_image.h"

namespace agegate {
namespace fs = std::filesystem;

namespace {
constexpr const char* kYuNetFile = "face_detection_yunet_2022mar.onnx";
constexpr int kTopK = 5000;
constexpr int kInitialInputSide = 320;
// YuNet halves its input five times; below this its shape inference fails
// (an OpenCV assertion, not an empty result), so smaller frames are padded.
constexpr int kMinInputSide = 64;
// YuNet output row: x y w h, 5 landmarks (x,y), score.
constexpr int kColBox = 0;
constexpr int kColLandmarks = 4;
constexpr int kColScore = 14;
}  // namespace

fs::path default_face_detector_model() { return default_weights_dir() / kYuNetFile; }

struct FaceDetector::Impl {
  cv::Ptr<cv::FaceDetectorYN> yunet;
};

FaceDetector::FaceDetector(FaceDetectorOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  if (options_.model.empty()) options_.model = default_face_detector_model();
  if (options_.max_side < 32) throw InvalidInput("face detector: max_side must be >= 32");
  std::error_code ec;
  if (!fs::is_regular_file(options_.model, ec)) {
    throw ModelError("face detector model not found: " + options_.model.string());
  }
  try {
    impl_->yunet = cv::FaceDetectorYN::create(options_.model.string(), "",
                                              cv::Size(kInitialInputSide, kInitialInputSide),
                                              options_.score_threshold, options_.nms_threshold,
                                              kTopK);
  } catch (const cv::Exception& e) {
    throw ModelError("cannot load face detector " + options_.model.string() + ": " + e.what());
  }
  if (!impl_->yunet) throw ModelError("cannot load face detector " + options_.model.string());
}

FaceDetector::~FaceDetector() = default;

std::vector<DetectedFace> FaceDetector::detect(const Image& frame) const {
  if (frame.empty()) throw InvalidInput("face detector: empty image");
  if (too_small_for_a_face(frame)) return {};
  cv::Mat bgr = to_bgr_mat(frame);
  const int longer = std::max(frame.width, frame.height);
  double scale = 1.0;
  if (longer > options_.max_side) {
    scale = static_cast<double>(options_.max_side) / longer;
    cv::Mat small;
    // At least one pixel per side, whatever the aspect ratio.
    const cv::Size to(std::max(1, int(std::lround(frame.width * scale))), std::max(1, int(std::lround(frame.height * scale))));
    cv::resize(bgr, small, to, 0, 0, cv::INTER_AREA);
    bgr = small;
  }
  if (bgr.cols < kMinInputSide || bgr.rows < kMinInputSide) {
    // Black border right and below: coordinates stay those of the frame.
    cv::Mat padded;
    cv::copyMakeBorder(bgr, padded, 0, std::max(0, kMinInputSide - bgr.rows), 0,
                       std::max(0, kMinInputSide - bgr.cols), cv::BORDER_CONSTANT, cv::Scalar::all(0));
    bgr = padded;
  }
  cv::Mat out;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    impl_->yunet->setInputSize(bgr.size());
    impl_->yunet->detect(bgr, out);
  }
  std::vector<DetectedFace> faces;
  const float inv = static_cast<float>(1.0 / scale);
  for (int i = 0; i < out.rows; ++i) {
    const float* r = out.ptr<float>(i);
    DetectedFace f;
    f.box = {r[kColBox] * inv, r[kColBox + 1] * inv, r[kColBox + 2] * inv, r[kColBox + 3] * inv};
    for (int k = 0; k < 5; ++k) {
      f.landmarks[k] = {r[kColLandmarks + 2 * k] * inv, r[kColLandmarks + 2 * k + 1] * inv};
    }
    f.score = r[kColScore];
    if (f.box.width <= 0 || f.box.height <= 0) continue;
    faces.push_back(f);
  }
  std::stable_sort(faces.begin(), faces.end(),
                   [](const DetectedFace& a, const DetectedFace& b) { return a.box.area() > b.box.area(); });
  return faces;
}

}  // namespace agegate
