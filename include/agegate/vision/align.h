// From a detected face to a crop with the geometry of the training photos, and
// the one entry point predict and serve use: photo -> face crops to estimate.
//
//   agegate::FaceDetector det;
//   auto crops = agegate::faces_for_estimation(photo, agegate::DetectMode::kAuto, &det);
//   if (crops.empty()) { /* no face: a result, not an error */ }
//   estimator.estimate({crops[0].image});
//
// Thread-safe (pure functions; the detector serialises itself).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "agegate/data/image.h"
#include "agegate/vision/face_detector.h"

namespace agegate {

// How a training photo (final_files/, 200x200 aligned crops) sits around the
// YuNet box of its face. Measured by running YuNet on the first 1000 training
// photos padded by 200 px of grey into 600x600 frames and taking medians
// (tests/vision/geometry_test.cpp re-measures them): crop side / box side =
// 0.926 (10th-90th percentile 0.885-0.973), crop centre - box centre =
// (+0.008, +0.057) box sides along the face's own axes. The box size is used
// rather than the eye distance because it varies half as much (eye distance
// shrinks with head yaw); the eyes give the rotation.
struct CropGeometry {
  float side_per_box = 0.926f;
  float centre_dx = 0.008f;  // towards the image right of the upright face
  float centre_dy = 0.057f;  // towards the chin
  int output_size = 200;     // as final_files/
};

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
std::vector<FaceCrop> faces_for_estimation(const Image& photo, DetectMode mode,
                                           const FaceDetector* detector,
                                           const CropGeometry& geometry = {});

}  // namespace agegate
