// The one preprocessing path: centre crop, antialiased bilinear resize, and
// normalisation. Training, evaluation, predict and serve all call these.
#include "agegate/data/preprocess.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/_upsample_bilinear2d_aa.h>
#include <ATen/ops/from_blob.h>

#include <cmath>
#include <cstring>

#include "agegate/core/error.h"

namespace agegate {
namespace {

constexpr int kChannels = 3;
constexpr float kPixelMax = 255.0f;
constexpr const char* kRgb = "RGB";

std::string field_list(const std::array<float, 3>& v) {
  return std::to_string(v[0]) + "," + std::to_string(v[1]) + "," + std::to_string(v[2]);
}

// [3] per-channel values as a tensor shaped to broadcast over [...,3,H,W].
at::Tensor channel_tensor(const std::array<float, 3>& v, const at::Tensor& like) {
  auto cpu = at::from_blob(const_cast<float*>(v.data()), {kChannels, 1, 1}, at::kFloat).clone();
  return cpu.to(like.device());
}

}  // namespace

nlohmann::json CropGeometry::to_json() const {
  return {{"side_per_box", side_per_box}, {"centre_dx", centre_dx}, {"centre_dy", centre_dy},
          {"output_size", output_size}};
}

CropGeometry CropGeometry::from_json(const nlohmann::json& j) {
  CropGeometry g;
  try {
    g.side_per_box = j.at("side_per_box").get<float>();
    g.centre_dx = j.at("centre_dx").get<float>();
    g.centre_dy = j.at("centre_dy").get<float>();
    g.output_size = j.at("output_size").get<int>();
    g.validate();
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(std::string("preprocessing spec: face_crop: ") + e.what());
  } catch (const InvalidInput& e) {
    throw ModelError(e.what());
  }
  return g;
}

void CropGeometry::validate() const {
  constexpr int kMinOutput = 8;
  constexpr float kMaxShift = 1.0f;  // a centre more than a box side away is not a face crop
  if (!(side_per_box > 0.0f && std::isfinite(side_per_box)) || output_size < kMinOutput ||
      !(std::fabs(centre_dx) <= kMaxShift && std::fabs(centre_dy) <= kMaxShift)) {
    throw InvalidInput("face crop geometry " + to_json().dump() + " is not usable");
  }
}

nlohmann::json PreprocessSpec::to_json() const {
  return {{"input_size", input_size}, {"color_order", color_order}, {"mean", mean},
          {"std", std}, {"crop", crop}, {"face_crop", face_crop.to_json()}, {"flip_average", flip_average}};
}

PreprocessSpec PreprocessSpec::from_json(const nlohmann::json& j) {
  PreprocessSpec s;
  const char* field = "";
  try {
    if (!j.is_object()) throw ModelError("preprocessing spec is not a JSON object");
    field = "input_size";
    s.input_size = j.at(field).get<int>();
    field = "color_order";
    s.color_order = j.at(field).get<std::string>();
    field = "mean";
    s.mean = j.at(field).get<std::array<float, 3>>();
    field = "std";
    s.std = j.at(field).get<std::array<float, 3>>();
    field = "crop";
    if (j.contains(field)) s.crop = j.at(field).get<float>();
    field = "face_crop";
    if (j.contains(field)) s.face_crop = CropGeometry::from_json(j.at(field));
    field = "flip_average";
    if (j.contains(field)) s.flip_average = j.at(field).get<bool>();
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(std::string("preprocessing spec: field '") + field + "' missing or wrong type (" +
                     e.what() + ")");
  }
  try {
    s.validate();
  } catch (const InvalidInput& e) {
    throw ModelError(e.what());
  }
  return s;
}

void PreprocessSpec::validate() const {
  if (input_size < kMinInputSize || input_size > kMaxInputSize) {
    throw InvalidInput("preprocessing spec: input_size " + std::to_string(input_size) + " is not in " +
                       std::to_string(kMinInputSize) + ".." + std::to_string(kMaxInputSize));
  }
  if (color_order != kRgb) {
    throw InvalidInput("preprocessing spec: color_order '" + color_order + "' is not supported (only RGB)");
  }
  for (int c = 0; c < kChannels; ++c) {
    if (!(std[c] > 0.0f) || !std::isfinite(std[c]) || !std::isfinite(mean[c])) {
      throw InvalidInput("preprocessing spec: mean [" + field_list(mean) + "] / std [" +
                         field_list(std) + "] must be finite with std > 0");
    }
  }
  face_crop.validate();
  if (!(crop > 0.0f && crop <= 1.0f)) {
    throw InvalidInput("preprocessing spec: crop " + std::to_string(crop) + " is not in (0,1]");
  }
}

at::Tensor image_to_tensor(const Image& img) {
  if (img.empty() || img.rgb.size() != size_t(img.width) * img.height * kChannels) {
    throw InvalidInput("image_to_tensor: empty image or buffer size does not match " +
                       std::to_string(img.width) + "x" + std::to_string(img.height));
  }
  auto hwc = at::from_blob(const_cast<uint8_t*>(img.rgb.data()), {img.height, img.width, kChannels},
                           at::kByte);
  return hwc.permute({2, 0, 1}).contiguous();
}

Image tensor_to_image(const at::Tensor& chw_u8) {
  if (chw_u8.dim() != 3 || chw_u8.size(0) != kChannels || chw_u8.scalar_type() != at::kByte) {
    throw InvalidInput("tensor_to_image: expected a [3,H,W] uint8 tensor");
  }
  auto hwc = chw_u8.to(at::kCPU).permute({1, 2, 0}).contiguous();
  Image img;
  img.height = static_cast<int>(hwc.size(0));
  img.width = static_cast<int>(hwc.size(1));
  img.rgb.resize(size_t(hwc.numel()));
  std::memcpy(img.rgb.data(), hwc.data_ptr<uint8_t>(), img.rgb.size());
  return img;
}

at::Tensor prepare(const Image& img, const PreprocessSpec& spec) {
  at::Tensor chw = image_to_tensor(img);
  const int side = std::min(img.width, img.height);
  const int keep = std::max(1, static_cast<int>(std::lround(side * double(spec.crop))));
  const int x0 = (img.width - keep) / 2;
  const int y0 = (img.height - keep) / 2;
  // Square centre crop: faces are aligned at the photo's centre.
  at::Tensor crop = chw.slice(1, y0, y0 + keep).slice(2, x0, x0 + keep);
  const int64_t s = spec.input_size;
  if (keep == s) return crop.contiguous();
  at::Tensor x = crop.unsqueeze(0).to(at::kFloat);
  // Antialiased bilinear (as torch's interpolate(antialias=True)), align_corners=false.
  at::Tensor y = at::_upsample_bilinear2d_aa(x, {s, s}, /*align_corners=*/false);
  return y.round_().clamp_(0.0, kPixelMax).to(at::kByte).squeeze(0).contiguous();
}

at::Tensor normalise(const at::Tensor& batch, const PreprocessSpec& spec, bool already_unit) {
  if (batch.dim() < 3 || batch.size(-3) != kChannels) {
    throw InvalidInput("normalise: expected [N,3,H,W] or [3,H,W], got " + std::to_string(batch.dim()) +
                       " dimensions");
  }
  at::Tensor x = batch.to(at::kFloat);
  if (!already_unit) x = x / kPixelMax;
  return (x - channel_tensor(spec.mean, x)) / channel_tensor(spec.std, x);
}

}  // namespace agegate
