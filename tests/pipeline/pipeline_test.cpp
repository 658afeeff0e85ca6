// pipeline/face_pipeline.h: predict and serve's path, on real photos. The
// crop geometry comes from the model file, not from a constant in the code.
#include <gtest/gtest.h>

#include "agegate/core/error.h"
#include "agegate/core/run_info.h"
#include "agegate/data/image.h"
#include "agegate/eval/estimator.h"
#include "agegate/model/model_file.h"
#include "agegate/pipeline/face_pipeline.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;

constexpr int kPad = 150;
constexpr uint8_t kGrey = 128;

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
  Image out;
  out.width = photo.width + 2 * kPad;
  out.height = photo.height + 2 * kPad;
  out.rgb.assign(static_cast<size_t>(out.width) * out.height * 3, kGrey);
  for (int y = 0; y < photo.height; ++y) {
    std::copy_n(&photo.rgb[static_cast<size_t>(y) * photo.width * 3], photo.width * 3,
                &out.rgb[(static_cast<size_t>(y + kPad) * out.width + kPad) * 3]);
  }
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

}  // namespace
}  // namespace agegate
