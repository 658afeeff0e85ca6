// Re-measures CropGeometry: runs YuNet on training photos padded into larger
// frames and checks that the medians still agree with the constants in align.h.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "agegate/data/image.h"
#include "agegate/vision/align.h"
#include "test_support.h"

namespace agegate {
namespace {

constexpr int kPhotos = 60;
constexpr int kPad = 200;
constexpr float kTolSide = 0.03f;   // median crop side / box side
constexpr float kTolCentre = 0.03f; // median centre offset, box sides

float median(std::vector<float> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

TEST(CropGeometry, MatchesAFreshMeasurementOnPaddedTrainingPhotos) {
  FaceDetector det;
  std::vector<float> side, dx, dy;
  for (int i = 0; i < kPhotos; ++i) {
    Image photo = read_image(testing::real_photo(i * 101).first);
    Image frame;
    frame.width = photo.width + 2 * kPad;
    frame.height = photo.height + 2 * kPad;
    frame.rgb.assign(static_cast<size_t>(frame.width) * frame.height * 3, 128);
    for (int y = 0; y < photo.height; ++y) {
      std::copy_n(&photo.rgb[static_cast<size_t>(y) * photo.width * 3], photo.width * 3,
                  &frame.rgb[(static_cast<size_t>(y + kPad) * frame.width + kPad) * 3]);
    }
    auto faces = det.detect(frame);
    if (faces.empty()) continue;
    const auto& f = faces.front();
    const float box = std::max(f.box.width, f.box.height);
    const auto& re = f.landmarks[kRightEye];
    const auto& le = f.landmarks[kLeftEye];
    const float a = std::atan2(le.y - re.y, le.x - re.x);
    const float ox = kPad + photo.width / 2.f - (f.box.x + f.box.width / 2);
    const float oy = kPad + photo.height / 2.f - (f.box.y + f.box.height / 2);
    side.push_back(photo.width / box);
    dx.push_back((std::cos(a) * ox + std::sin(a) * oy) / box);
    dy.push_back((-std::sin(a) * ox + std::cos(a) * oy) / box);
  }
  ASSERT_GE(side.size(), size_t(kPhotos * 95 / 100)) << "YuNet should find nearly every training face";
  CropGeometry g;
  EXPECT_NEAR(median(side), g.side_per_box, kTolSide);
  EXPECT_NEAR(median(dx), g.centre_dx, kTolCentre);
  EXPECT_NEAR(median(dy), g.centre_dy, kTolCentre);
}

}  // namespace
}  // namespace agegate
