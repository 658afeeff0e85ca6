// Face-friendly augmentation on tensors, on whatever device the batch is on:
// horizontal flip, small scale/shift/rotation (one affine warp), brightness,
// contrast, saturation. Training only.
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

namespace agegate {

// The defaults are the reference trainer's ranges
// (../shared/reference/face-age-pytorch): with them the face ResNet reached a
// lower validation MAE than with the wider ones agegate used before (10%
// zoom, 6% shift, saturation 0.2); models/MODEL_CARD.md has the curves.
struct AugmentOptions {
  bool flip = true;
  float max_rotate_deg = 10.0f;
  float max_scale = 0.05f;   // zoom in/out by up to 5%
  float max_shift = 0.05f;   // shift by up to 5% of the side
  float brightness = 0.2f;
  float contrast = 0.2f;
  float saturation = 0.0f;
  nlohmann::json to_json() const;
};

// [N,3,S,S] uint8 -> [N,3,S,S] float32 in 0..1, augmented, on the batch's
// device. Each image gets its own draws: an exact mirror with probability 1/2,
// one affine warp (reflection padding) when any geometric range is non-zero,
// then brightness, contrast and saturation factors in [1-r, 1+r]. Random draws
// come from the global torch generator of the batch's device (seed it for
// repeatability). Throws InvalidInput on a wrong batch or out-of-range options.
at::Tensor augment(const at::Tensor& batch_u8, const AugmentOptions& options);

}  // namespace agegate
