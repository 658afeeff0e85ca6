// pipeline/face_pipeline.h: predict and serve's path, on real photos. The
// crop geometry comes from the model file, not from a constant in the code.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "agegate/core/error.h"
#include "agegate/core/run_info.h"
#include "agegate/data/image.h"
#include "agegate/eval/estimator.h"
#include "agegate/model/model_file.h"
#include "agegate/pipeline/face_pipeline.h"
#include "camera_images.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;

constexpr int kPad = 150;

// The shipped model saved again with another crop geometry (a trained
// network: a random one answers nearly the same age for any crop).
fs::path model_with(const CropGeometry& g, const std::string& name) {
  LoadedModel m = load_model_file(default_model_path());
  m.info.preprocess.face_crop = g;
  fs::path dir = testing::scratch_dir("pipeline-" + name);
  save_model_file(dir / "m.agm", m.net, m.info);
  return dir / "m.agm";
}

Image padded(const Image& photo) {
  Image out = testing::grey_frame(photo.width + 2 * kPad, photo.height + 2 * kPad);
  testing::paste(out, photo, kPad, kPad);
  return out;
}

TEST(FacePipeline, DetectOffEstimatesThePhotoAsTheEstimatorDoes) {
  PipelineOptions o;
  o.model = model_with(CropGeometry{}, "off");
  o.detect = DetectMode::kOff;
  o.threads = 1;
  FacePipeline pipeline(o);
  Image photo = read_image(testing::real_photo(3).first);
  PhotoResult r = pipeline.run(photo);
  ASSERT_EQ(r.faces.size(), 1u);
  EXPECT_FALSE(r.faces[0].detected);
  Estimator direct(o.model);
  const double expected = direct.estimate({photo})[0].mean();
  // Thread counts differ (1 vs default): float sums may differ in the last bits.
  EXPECT_NEAR(r.faces[0].dist.mean(), expected, 1e-4);
  EXPECT_DOUBLE_EQ(r.faces[0].decision.estimate, r.faces[0].dist.mean());
  nlohmann::json j = to_json(r.faces[0], pipeline.policy());
  EXPECT_EQ(j["decision"], to_string(r.faces[0].decision.decision));
  EXPECT_THROW(pipeline.run(Image{}), InvalidInput);
}

TEST(FacePipeline, CropsCameraFramesWithTheModelFilesGeometry) {
  CropGeometry tight;
  tight.side_per_box = 0.5f;
  PipelineOptions measured, narrow;
  measured.model = model_with(CropGeometry{}, "measured");
  narrow.model = model_with(tight, "tight");
  measured.detect = narrow.detect = DetectMode::kOn;
  measured.threads = narrow.threads = 1;
  FacePipeline a(measured), b(narrow);
  EXPECT_FLOAT_EQ(b.model_info().preprocess.face_crop.side_per_box, 0.5f);
  Image frame = padded(read_image(testing::real_photo(5).first));
  PhotoResult ra = a.run(frame), rb = b.run(frame);
  ASSERT_EQ(ra.faces.size(), 1u);
  ASSERT_EQ(rb.faces.size(), 1u);
  EXPECT_TRUE(ra.faces[0].detected);
  // Same weights, same detected box: only the crop differs, so the estimate does.
  EXPECT_FLOAT_EQ(ra.faces[0].box.width, rb.faces[0].box.width);
  EXPECT_GT(std::abs(ra.faces[0].dist.mean() - rb.faces[0].dist.mean()), 0.1);
}

// The speed work's fast path against the reference path it replaced
// (PipelineOptions::use_reference_path; bench/speed.sh times both).
// Estimation alone (channels-last vs NCHW) must give the same answers up to
// float rounding; detection at 320 instead of 640 px moves the detector's box
// by a few pixels, which moves single estimates about as much as moving the
// frame by 3 pixels does (bench: agegate_speed accuracy), so on frames the
// check is that the same faces are found in the same places and the error
// against the true ages stays the same.
TEST(FacePipeline, TheFastPathGivesTheReferencePathsAnswersOnRealPhotos) {
  constexpr int kCrops = 16;
  constexpr int kFrames = 24;
  constexpr double kMaxCropDifference = 1e-3;  // years
  // Box centres agree within this share of the reference box's side (a
  // box at half resolution is a few detection pixels off; a wrong mapping
  // back to the frame would be off by the face's size or more).
  constexpr float kMaxCentreShift = 0.15f;
  constexpr double kMaxMaeChange = 0.75;       // years, on kFrames photos
  constexpr double kMaxMeanDifference = 2.5;   // years, mean |fast - reference| per frame
  PipelineOptions fast_o, ref_o;
  fast_o.threads = ref_o.threads = 2;
  ref_o.use_reference_path();
  {
    fast_o.detect = ref_o.detect = DetectMode::kOff;
    FacePipeline fast(fast_o), ref(ref_o);
    for (int i = 0; i < kCrops; ++i) {
      const Image photo = read_image(testing::real_photo(i * 53).first);
      const PhotoResult f = fast.run(photo), r = ref.run(photo);
      ASSERT_EQ(f.faces.size(), 1u);
      ASSERT_EQ(r.faces.size(), 1u);
      EXPECT_NEAR(f.faces[0].dist.mean(), r.faces[0].dist.mean(), kMaxCropDifference) << "photo " << i * 53;
      EXPECT_NEAR(f.faces[0].decision.p_under_legal, r.faces[0].decision.p_under_legal, 1e-5);
      EXPECT_EQ(f.faces[0].decision.decision, r.faces[0].decision.decision);
    }
  }
  fast_o.detect = ref_o.detect = DetectMode::kOn;
  FacePipeline fast(fast_o), ref(ref_o);
  double err_fast = 0, err_ref = 0, diff = 0;
  for (int i = 0; i < kFrames; ++i) {
    const auto [path, age] = testing::real_photo(i * 31);
    const Image photo = read_image(path);
    Image frame = testing::grey_frame(640, 480);
    testing::paste(frame, photo, (i * 97) % (640 - photo.width), (i * 61) % (480 - photo.height));
    const PhotoResult f = fast.run(frame), r = ref.run(frame);
    ASSERT_EQ(f.faces.size(), r.faces.size()) << "photo " << i * 31;
    ASSERT_FALSE(f.faces.empty()) << "photo " << i * 31;
    const BoxF& fb = f.faces[0].box;
    const BoxF& rb = r.faces[0].box;
    const float slack = kMaxCentreShift * std::max(rb.width, rb.height);
    EXPECT_NEAR(fb.x + fb.width / 2, rb.x + rb.width / 2, slack) << "photo " << i * 31;
    EXPECT_NEAR(fb.y + fb.height / 2, rb.y + rb.height / 2, slack) << "photo " << i * 31;
    err_fast += std::abs(f.faces[0].dist.mean() - age) / kFrames;
    err_ref += std::abs(r.faces[0].dist.mean() - age) / kFrames;
    diff += std::abs(f.faces[0].dist.mean() - r.faces[0].dist.mean()) / kFrames;
  }
  EXPECT_NEAR(err_fast, err_ref, kMaxMaeChange);
  EXPECT_LT(diff, kMaxMeanDifference);
  RecordProperty("mae_fast", std::to_string(err_fast));
  RecordProperty("mae_reference", std::to_string(err_ref));
  RecordProperty("mean_difference", std::to_string(diff));
  std::printf("frames: MAE fast %.3f, reference %.3f; mean |difference| %.3f years\n", err_fast, err_ref, diff);
}

}  // namespace
}  // namespace agegate
