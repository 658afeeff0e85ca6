// The preprocessing spec and the one preprocessing path shared by training,
// evaluation, predict and serve. The spec is saved inside every model file.
//
//   auto u8 = prepare(img, spec);              // [3,S,S] uint8, RGB
//   auto x  = normalise(u8.unsqueeze(0), spec); // [1,3,S,S] float32, normalised
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <array>
#include <string>

#include "agegate/data/image.h"

namespace agegate {

// How a training photo (final_files/, 200x200 aligned crops) sits around the
// face detector's box of its face: a fact about the training photos, stored
// in every model file's preprocessing spec so predict and serve crop camera
// frames the way that model's own training photos were cropped.
// The defaults were measured by running YuNet on the first 1000 training
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

  nlohmann::json to_json() const;
  static CropGeometry from_json(const nlohmann::json& j);  // ModelError on a bad field
  void validate() const;                                   // InvalidInput
};

struct PreprocessSpec {
  static constexpr int kDefaultInputSize = 128;  // the shipped recipe's
  static constexpr int kMinInputSize = 32;
  static constexpr int kMaxInputSize = 1024;
  int input_size = kDefaultInputSize;  // S: the network sees S x S
  std::string color_order = "RGB";
  // ImageNet statistics, the backbone's pretraining normalisation.
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
  // Share of the aligned face photo's side kept, centred, before resizing
  // (1.0 = whole photo as in final_files/). The detector crops to match.
  float crop = 1.0f;
  // Detector box -> training-style crop. Model files written before this
  // field existed read back the measured defaults, which is what they were
  // trained with (all training photos come from the same folder).
  CropGeometry face_crop;
  // Test-time flip averaging: the logits are the mean of the network's on
  // the photo and on its mirror image (AgeNetImpl::infer(), the one path
  // of evaluate, predict and serve). Training never flips at inference.
  // Files written before this field read back false.
  bool flip_average = false;

  nlohmann::json to_json() const;
  static PreprocessSpec from_json(const nlohmann::json& j);  // throws ModelError on a bad field
  void validate() const;                                    // throws InvalidInput
};

// HWC uint8 image -> [3,H,W] uint8 tensor (a copy).
at::Tensor image_to_tensor(const Image& img);
// [3,H,W] uint8 tensor -> Image.
Image tensor_to_image(const at::Tensor& chw_u8);

// Centre square crop (side = spec.crop * the shorter side), then resize to
// S x S with torch's antialiased bilinear kernel (as interpolate(antialias=True),
// align_corners=false), rounded and clamped to uint8. Returns [3,S,S] uint8 RGB,
// CPU. Deterministic: the same photo gives the same bytes.
at::Tensor prepare(const Image& img, const PreprocessSpec& spec);

// [N,3,S,S] uint8 (or float in 0..1 when `already_unit`) -> float32 normalised
// with spec.mean/std, on the input's device.
at::Tensor normalise(const at::Tensor& batch, const PreprocessSpec& spec, bool already_unit = false);

}  // namespace agegate
