// From a detected face to a crop with the geometry of the training photos
// (CropGeometry, stored in the model's preprocessing spec: data/preprocess.h),
// and photo -> face crops to estimate, which pipeline/face_pipeline.h runs
// for predict and serve.
//
//   agegate::FaceDetector det;
//   auto crops = agegate::faces_for_estimation(photo, agegate::DetectMode::kAuto, &det, spec.face_crop);
//   if (crops.empty()) { /* no face: a result, not an error */ }
//
// Thread-safe (pure functions; the detector hands out its networks one call at a time).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "agegate/data/image.h"
#include "agegate/data/preprocess.h"
#include "agegate/vision/face_detector.h"

namespace agegate {

// Rotates the face upright (eye line horizontal) and crops it with `geometry`.
// Pixels outside the frame are filled by replicating the border. Returns an
// output_size x output_size RGB image.
Image align_face(const Image& frame, const DetectedFace& face, const CropGeometry& geometry = {});

enum class DetectMode {
  kAuto,  // detect; a photo that is already one tight face crop is used as is
  kOn,    // the photo is a camera frame: faces must come from the detector
  kOff,   // the photo is already an aligned crop
};
DetectMode parse_detect_mode(const std::string& s);  // "auto"|"on"|"off"; InvalidInput otherwise
const char* to_string(DetectMode m);

struct FaceCrop {
  Image image;       // aligned crop, ready for Estimator::estimate
  BoxF box;          // where it came from in the photo (whole photo when used as is)
  float score = 0;   // detector score; 1 when the photo was taken as a crop
  bool detected = false;  // false when the photo itself was used as the crop
};

// Largest face first. No face -> empty vector (not an exception). With kOff
// (or kAuto on a photo that already is a crop) the result is the photo itself.
// `detector` may be null only with kOff. Throws InvalidInput for an empty image.
// A photo too_small_for_a_face() (face_detector.h) gives no crop, whatever the mode.
// Why a photo gave no face, for people: "no face found", or its size and the minimum.
std::string no_face_reason(const Image& photo);

std::vector<FaceCrop> faces_for_estimation(const Image& photo, DetectMode mode,
                                           const FaceDetector* detector,
                                           const CropGeometry& geometry = {});

}  // namespace agegate
