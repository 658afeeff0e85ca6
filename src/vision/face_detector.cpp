// YuNet through cv::FaceDetectorYN; see face_detector.h.
#include "agegate/vision/face_detector.h"

#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect/face.hpp>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <mutex>

#include "agegate/core/error.h"
#include "agegate/core/run_info.h"

namespace agegate {
namespace fs = std::filesystem;

namespace {
constexpr const char* kYuNetFile = "face_detection_yunet_2022mar.onnx";
constexpr int kTopK = 5000;
constexpr int kInitialInputSide = 320;
// YuNet halves its input five times; below this its shape inference fails
// (an OpenCV assertion, not an empty result), so smaller frames are padded.
constexpr int kMinInputSide = 64;
constexpr int kStride = 32;  // YuNet's coarsest feature map
// YuNet output row: x y w h, 5 landmarks (x,y), score.
constexpr int kColBox = 0;
constexpr int kColLandmarks = 4;
constexpr int kColScore = 14;
}  // namespace

fs::path default_face_detector_model() { return default_weights_dir() / kYuNetFile; }

// One YuNet network per instance: cv::FaceDetectorYN keeps its input size
// (and the anchor boxes made for it) as state, so an instance serves one
// detect() at a time and is re-sized only when the frame size changes.
struct YuNet {
  cv::Ptr<cv::FaceDetectorYN> net;
  cv::Size input;
};

struct FaceDetector::Impl {
  std::vector<YuNet> nets;
  std::mutex mutex;
  std::condition_variable available;
  std::vector<YuNet*> free;  // guarded by mutex
};

namespace {
// A network taken from the free list for one detect(), given back on exit.
class Lease {
 public:
  explicit Lease(FaceDetector::Impl& impl) : impl_(impl) {
    std::unique_lock<std::mutex> lock(impl_.mutex);
    impl_.available.wait(lock, [this] { return !impl_.free.empty(); });
    net_ = impl_.free.back();
    impl_.free.pop_back();
  }
  ~Lease() {
    {
      std::lock_guard<std::mutex> lock(impl_.mutex);
      impl_.free.push_back(net_);
    }
    impl_.available.notify_one();
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  YuNet& operator*() const { return *net_; }

 private:
  FaceDetector::Impl& impl_;
  YuNet* net_ = nullptr;
};
}  // namespace

FaceDetector::FaceDetector(FaceDetectorOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  if (options_.model.empty()) options_.model = default_face_detector_model();
  if (options_.max_side < 32) throw InvalidInput("face detector: max_side must be >= 32");
  std::error_code ec;
  if (!fs::is_regular_file(options_.model, ec)) {
    throw ModelError("face detector model not found: " + options_.model.string());
  }
  if (options_.instances < 1) throw InvalidInput("face detector: instances must be >= 1");
  impl_->nets.resize(static_cast<size_t>(options_.instances));
  for (YuNet& y : impl_->nets) {
    try {
      y.input = cv::Size(kInitialInputSide, kInitialInputSide);
      y.net = cv::FaceDetectorYN::create(options_.model.string(), "", y.input, options_.score_threshold,
                                         options_.nms_threshold, kTopK);
    } catch (const cv::Exception& e) {
      throw ModelError("cannot load face detector " + options_.model.string() + ": " + e.what());
    }
    if (!y.net) throw ModelError("cannot load face detector " + options_.model.string());
    impl_->free.push_back(&y);
  }
}

FaceDetector::~FaceDetector() = default;

std::vector<DetectedFace> FaceDetector::detect(const Image& frame) const {
  if (frame.empty()) throw InvalidInput("face detector: empty image");
  if (too_small_for_a_face(frame)) return {};
  const int longer = std::max(frame.width, frame.height);
  double scale = 1.0;
  // Downscale the RGB frame first and convert only the small copy to BGR
  // (area averaging is per channel, so the order gives the same pixels).
  cv::Mat rgb(frame.height, frame.width, CV_8UC3, const_cast<uint8_t*>(frame.rgb.data()));
  cv::Mat bgr;
  if (longer > options_.max_side) {
    scale = static_cast<double>(options_.max_side) / longer;
    cv::Mat small;
    // At least one pixel per side, whatever the aspect ratio.
    const cv::Size to(std::max(1, int(std::lround(frame.width * scale))), std::max(1, int(std::lround(frame.height * scale))));
    cv::resize(rgb, small, to, 0, 0, cv::INTER_AREA);
    cv::cvtColor(small, bgr, cv::COLOR_RGB2BGR);
  } else {
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  }
  {
    // Black border right and below (coordinates stay those of the frame) up
    // to the next multiple of YuNet's stride and at least kMinInputSide.
    const auto padded_side = [](int n) { return std::max(kMinInputSide, (n + kStride - 1) / kStride * kStride); };
    const int bottom = padded_side(bgr.rows) - bgr.rows, right = padded_side(bgr.cols) - bgr.cols;
    if (bottom > 0 || right > 0) {
      cv::Mat padded;
      cv::copyMakeBorder(bgr, padded, 0, bottom, 0, right, cv::BORDER_CONSTANT, cv::Scalar::all(0));
      bgr = padded;
    }
  }
  cv::Mat out;
  {
    Lease lease(*impl_);
    YuNet& y = *lease;
    if (y.input != bgr.size()) {
      y.net->setInputSize(bgr.size());
      y.input = bgr.size();
    }
    y.net->detect(bgr, out);
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
