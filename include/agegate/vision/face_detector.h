// Face detection on camera frames with YuNet (cv::FaceDetectorYN, OpenCV 4.6).
//
//   agegate::FaceDetector det;                       // loads the default YuNet model
//   std::vector<agegate::DetectedFace> faces = det.detect(frame);  // largest first
//
// Speed: faces at a till are large, so frames are detected at max_side
// (320 px on the longer side by default; 640x480 -> 320x240, padded to
// YuNet's 32-px stride) and the boxes and landmarks mapped back to the
// frame's pixels: about 3x faster than the full frame (bench/speed.sh).
//
// Thread-safety: cv::FaceDetectorYN keeps per-call state (its input size), so
// one network runs one detect() at a time. A FaceDetector holds `instances`
// networks (one per thread that detects at once, e.g. the service's
// estimation slots); detect() takes a free one and waits when all are busy.
// Construction throws ModelError when the model file is missing or
// unreadable; detect() never throws for an image without faces (it returns
// an empty vector).
#pragma once
#include <algorithm>
#include <array>
#include <filesystem>
#include <memory>
#include <vector>

#include "agegate/data/image.h"

namespace agegate {

// A frame or crop whose shorter side is below this holds no face the
// detector or the age network can use: detection finds none, and the
// pipeline answers "too small" instead of estimating from a few pixels.
inline constexpr int kMinFaceSide = 24;
inline bool too_small_for_a_face(const Image& photo) { return std::min(photo.width, photo.height) < kMinFaceSide; }

struct PointF {
  float x = 0;
  float y = 0;
};

struct BoxF {
  float x = 0;  // left, frame pixels
  float y = 0;  // top, frame pixels
  float width = 0;
  float height = 0;
  float area() const { return width * height; }
};

// One face in frame pixels. Landmarks in YuNet's order: subject's right eye
// (image left), left eye, nose tip, right mouth corner, left mouth corner.
struct DetectedFace {
  BoxF box;
  std::array<PointF, 5> landmarks{};
  float score = 0;  // detector confidence 0..1
};

enum Landmark { kRightEye = 0, kLeftEye = 1, kNoseTip = 2, kRightMouth = 3, kLeftMouth = 4 };

struct FaceDetectorOptions {
  static constexpr float kDefaultScoreThreshold = 0.9f;
  static constexpr float kDefaultNmsThreshold = 0.3f;
  static constexpr int kDefaultMaxSide = 320;
  static constexpr int kReferenceMaxSide = 640;  // before the speed work: the reference path
  std::filesystem::path model;  // empty = default_weights_dir()/face_detection_yunet_2022mar.onnx
  float score_threshold = kDefaultScoreThreshold;
  float nms_threshold = kDefaultNmsThreshold;
  // Frames whose longer side exceeds this are downscaled for detection (speed);
  // boxes and landmarks are mapped back to full-frame pixels.
  int max_side = kDefaultMaxSide;
  int instances = 1;  // YuNet networks: detections that may run at once
};

class FaceDetector {
 public:
  explicit FaceDetector(FaceDetectorOptions options = {});
  ~FaceDetector();
  FaceDetector(const FaceDetector&) = delete;
  FaceDetector& operator=(const FaceDetector&) = delete;

  // All faces above the score threshold, largest box first; none for a frame
  // smaller than kMinFaceSide (any size and aspect ratio is accepted). Thread-safe.
  std::vector<DetectedFace> detect(const Image& frame) const;
  const FaceDetectorOptions& options() const { return options_; }

  struct Impl;  // the networks and their free list (face_detector.cpp)

 private:
  FaceDetectorOptions options_;
  std::unique_ptr<Impl> impl_;
};

std::filesystem::path default_face_detector_model();

}  // namespace agegate
