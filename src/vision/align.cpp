// Alignment and the photo -> face crops policy; see align.h.
#include "agegate/vision/align.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "agegate/core/error.h"
#include "agegate/core/numeric.h"

namespace agegate {

namespace {
// kAuto: a detected face whose crop covers this share of the shorter side of a
// near-square photo means the photo already is an aligned crop.
constexpr float kWholePhotoShare = 0.8f;
// kAuto: "near-square" and "small" for photos with no detected face, which are
// taken as crops (YuNet sometimes misses faces that fill the whole image).
constexpr float kMaxCropAspect = 1.25f;
constexpr int kMaxCropSide = 512;

bool near_square(const Image& img) {
  float a = static_cast<float>(std::max(img.width, img.height)) / std::min(img.width, img.height);
  return a <= kMaxCropAspect;
}

FaceCrop whole_photo(const Image& photo) {
  FaceCrop c;
  c.image = photo;
  c.box = {0, 0, static_cast<float>(photo.width), static_cast<float>(photo.height)};
  c.score = 1.0f;
  c.detected = false;
  return c;
}
}  // namespace

Image align_face(const Image& frame, const DetectedFace& face, const CropGeometry& g) {
  if (frame.empty()) throw InvalidInput("align_face: empty image");
  if (g.output_size < 8 || g.side_per_box <= 0) throw InvalidInput("align_face: bad crop geometry");
  const PointF re = face.landmarks[kRightEye];
  const PointF le = face.landmarks[kLeftEye];
  const double angle = std::atan2(le.y - re.y, le.x - re.x);  // radians, eye line vs horizontal
  const double box_side = std::max(face.box.width, face.box.height);
  const double side = g.side_per_box * box_side;
  // Crop centre: box centre moved along the face's own axes.
  const double ca = std::cos(angle), sa = std::sin(angle);
  const double bx = face.box.x + face.box.width / 2.0, by = face.box.y + face.box.height / 2.0;
  const double dx = g.centre_dx * box_side, dy = g.centre_dy * box_side;
  const double cx = bx + ca * dx - sa * dy;
  const double cy = by + sa * dx + ca * dy;
  // Map the crop centre to the output centre, rotating by -angle and scaling.
  const double scale = g.output_size / side;
  cv::Mat m = cv::getRotationMatrix2D(cv::Point2f(static_cast<float>(cx), static_cast<float>(cy)),
                                      angle * 180.0 / kPi, scale);
  m.at<double>(0, 2) += g.output_size / 2.0 - cx;
  m.at<double>(1, 2) += g.output_size / 2.0 - cy;
  // Warped in RGB straight from and into the images' buffers (interpolation
  // is per channel, so no BGR round trip is needed).
  const cv::Mat src(frame.height, frame.width, CV_8UC3, const_cast<uint8_t*>(frame.rgb.data()));
  Image out;
  out.width = out.height = g.output_size;
  out.rgb.resize(static_cast<size_t>(g.output_size) * g.output_size * 3);
  cv::Mat dst(g.output_size, g.output_size, CV_8UC3, out.rgb.data());
  cv::warpAffine(src, dst, m, dst.size(), scale < 1.0 ? cv::INTER_AREA : cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  return out;
}

DetectMode parse_detect_mode(const std::string& s) {
  if (s == "auto") return DetectMode::kAuto;
  if (s == "on") return DetectMode::kOn;
  if (s == "off") return DetectMode::kOff;
  throw InvalidInput("--detect must be auto, on or off, not '" + s + "'");
}

const char* to_string(DetectMode m) {
  switch (m) {
    case DetectMode::kAuto: return "auto";
    case DetectMode::kOn: return "on";
    case DetectMode::kOff: return "off";
  }
  return "?";
}

std::string no_face_reason(const Image& photo) {
  if (!too_small_for_a_face(photo)) return "no face found";
  return "image is " + std::to_string(photo.width) + "x" + std::to_string(photo.height) +
         ", too small to hold a face (its shorter side must be at least " + std::to_string(kMinFaceSide) +
         " pixels)";
}

std::vector<FaceCrop> faces_for_estimation(const Image& photo, DetectMode mode,
                                           const FaceDetector* detector, const CropGeometry& g) {
  if (photo.empty()) throw InvalidInput("faces_for_estimation: empty image");
  if (too_small_for_a_face(photo)) return {};
  if (mode == DetectMode::kOff) return {whole_photo(photo)};
  AGEGATE_CHECK(detector != nullptr, "a face detector is needed unless detection is off");
  std::vector<DetectedFace> faces = detector->detect(photo);
  if (mode == DetectMode::kAuto) {
    const int shorter = std::min(photo.width, photo.height);
    if (faces.empty()) {
      if (near_square(photo) && std::max(photo.width, photo.height) <= kMaxCropSide) {
        return {whole_photo(photo)};
      }
      return {};
    }
    const auto& main = faces.front();
    const float crop_side = g.side_per_box * std::max(main.box.width, main.box.height);
    if (near_square(photo) && crop_side >= kWholePhotoShare * shorter) {
      FaceCrop c = whole_photo(photo);
      c.score = main.score;
      return {c};
    }
  }
  std::vector<FaceCrop> crops;
  crops.reserve(faces.size());
  for (const auto& f : faces) {
    FaceCrop c;
    c.image = align_face(photo, f, g);
    c.box = f.box;
    c.score = f.score;
    c.detected = true;
    crops.push_back(std::move(c));
  }
  return crops;
}

}  // namespace agegate
