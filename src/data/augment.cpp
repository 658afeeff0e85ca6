// Training augmentation as tensor operations on the batch's device: an exact
// flip, one affine warp (rotation, scale, shift) and colour jitter.
#include "agegate/data/augment.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/affine_grid_generator.h>
#include <ATen/ops/flip.h>
#include <ATen/ops/grid_sampler.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/where.h>

#include <cmath>

#include "agegate/core/error.h"
#include "agegate/core/numeric.h"

namespace agegate {
namespace {

constexpr float kPixelMax = 255.0f;
// grid_sampler enums: bilinear interpolation, reflection padding.
constexpr int64_t kBilinear = 0;
constexpr int64_t kReflectionPadding = 2;
// ITU-R 601 luma weights, as torchvision's rgb_to_grayscale.
constexpr float kLumaR = 0.299f, kLumaG = 0.587f, kLumaB = 0.114f;

// [N] uniform in [-range, range] on `like`'s device from the global generator.
at::Tensor symmetric(int64_t n, double range, const at::TensorOptions& opts) {
  return (at::rand({n}, opts) * 2.0 - 1.0) * range;
}

at::Tensor per_image(const at::Tensor& v) { return v.view({-1, 1, 1, 1}); }

at::Tensor luma(const at::Tensor& x) {  // [N,3,H,W] -> [N,1,H,W]
  return x.select(1, 0).mul(kLumaR).add(x.select(1, 1), kLumaG).add(x.select(1, 2), kLumaB).unsqueeze(1);
}

}  // namespace

nlohmann::json AugmentOptions::to_json() const {
  return {{"flip", flip},           {"max_rotate_deg", max_rotate_deg}, {"max_scale", max_scale},
          {"max_shift", max_shift}, {"brightness", brightness},         {"contrast", contrast},
          {"saturation", saturation}};
}

at::Tensor augment(const at::Tensor& batch_u8, const AugmentOptions& o) {
  if (batch_u8.dim() != 4 || batch_u8.size(1) != 3 || batch_u8.scalar_type() != at::kByte) {
    throw InvalidInput("augment: expected an [N,3,H,W] uint8 batch");
  }
  if (o.max_scale < 0 || o.max_scale >= 1 || o.max_shift < 0 || o.max_rotate_deg < 0 ||
      o.brightness < 0 || o.brightness >= 1 || o.contrast < 0 || o.contrast >= 1 ||
      o.saturation < 0 || o.saturation >= 1) {
    throw InvalidInput("augment: ranges must be >= 0 and scale/brightness/contrast/saturation < 1");
  }
  const int64_t n = batch_u8.size(0);
  at::Tensor x = batch_u8.to(at::kFloat).div_(kPixelMax);
  if (n == 0) return x;
  const auto opts = x.options();

  if (o.flip) {
    // An exact mirror (no resampling) for half the images.
    at::Tensor mask = per_image(at::rand({n}, opts) < 0.5);
    x = at::where(mask, at::flip(x, {3}), x);
  }
  if (o.max_rotate_deg > 0 || o.max_scale > 0 || o.max_shift > 0) {
    at::Tensor angle = symmetric(n, o.max_rotate_deg * kPi / 180.0, opts);
    at::Tensor inv_scale = 1.0 / (1.0 + symmetric(n, o.max_scale, opts));
    // Normalised coordinates span 2 per side.
    at::Tensor tx = symmetric(n, 2.0 * o.max_shift, opts);
    at::Tensor ty = symmetric(n, 2.0 * o.max_shift, opts);
    at::Tensor c = angle.cos() * inv_scale, s = angle.sin() * inv_scale;
    at::Tensor theta = at::stack({at::stack({c, -s, tx}, 1), at::stack({s, c, ty}, 1)}, 1);
    at::Tensor grid = at::affine_grid_generator(theta, x.sizes(), /*align_corners=*/false);
    x = at::grid_sampler(x, grid, kBilinear, kReflectionPadding, /*align_corners=*/false);
  }
  if (o.brightness > 0) {
    x = (x * per_image(1.0 + symmetric(n, o.brightness, opts))).clamp_(0.0, 1.0);
  }
  if (o.contrast > 0) {
    at::Tensor mean = luma(x).mean({1, 2, 3}, /*keepdim=*/true);
    x = ((x - mean) * per_image(1.0 + symmetric(n, o.contrast, opts)) + mean).clamp_(0.0, 1.0);
  }
  if (o.saturation > 0) {
    at::Tensor grey = luma(x);
    x = ((x - grey) * per_image(1.0 + symmetric(n, o.saturation, opts)) + grey).clamp_(0.0, 1.0);
  }
  return x;
}

}  // namespace agegate
