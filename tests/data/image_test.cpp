// JPEG/PNG decoding and encoding on real photos and on deliberately broken data.
#include <gtest/gtest.h>
#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/data/image.h"
#include "camera_images.h"
#include "test_support.h"

namespace agegate {
namespace {

using testing::real_photo;
using testing::scratch_dir;

std::vector<uint8_t> photo_bytes(int index) { return read_file_bytes(real_photo(index).first); }

template <typename F>
void expect_invalid_naming(F&& f, const std::string& what) {
  try {
    f();
    FAIL() << "expected InvalidInput naming " << what;
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

using testing::jpeg_of_pixels;
using testing::png_of_layout;
using testing::PngLayout;

TEST(Image, DecodesRealJpegPhoto) {
  auto bytes = photo_bytes(0);
  EXPECT_EQ(sniff_format(bytes.data(), bytes.size()), ImageFormat::kJpeg);
  ImageInfo info = read_image_info(bytes.data(), bytes.size(), "p0");
  Image img = read_image(real_photo(0).first);
  EXPECT_EQ(info.width, img.width);
  EXPECT_EQ(info.height, img.height);
  EXPECT_GT(img.width, 0);
  ASSERT_EQ(img.rgb.size(), size_t(img.width) * img.height * 3);
  // A face photo is not a flat colour.
  auto [lo, hi] = std::minmax_element(img.rgb.begin(), img.rgb.end());
  EXPECT_GT(*hi - *lo, 100);
}

TEST(Image, PngRoundTripIsLossless) {
  Image img = read_image(real_photo(3).first);
  auto png = encode_png(img);
  EXPECT_EQ(sniff_format(png.data(), png.size()), ImageFormat::kPng);
  ImageInfo info = read_image_info(png.data(), png.size(), "rt.png");
  EXPECT_EQ(info.format, ImageFormat::kPng);
  EXPECT_EQ(info.width, img.width);
  Image back = decode_image(png.data(), png.size(), "rt.png");
  EXPECT_EQ(back.width, img.width);
  EXPECT_EQ(back.height, img.height);
  EXPECT_EQ(back.rgb, img.rgb);
}

TEST(Image, JpegRoundTripIsClose) {
  Image img = read_image(real_photo(5).first);
  auto jpg = encode_jpeg(img, 95);
  Image back = decode_image(jpg.data(), jpg.size(), "rt.jpg");
  ASSERT_EQ(back.rgb.size(), img.rgb.size());
  double err = 0;
  for (size_t i = 0; i < img.rgb.size(); ++i) err += std::abs(int(back.rgb[i]) - int(img.rgb[i]));
  EXPECT_LT(err / img.rgb.size(), 4.0);
  EXPECT_THROW(encode_jpeg(img, 0), InvalidInput);
  EXPECT_THROW(encode_png(Image{}), InvalidInput);
}

TEST(Image, WriteImageByExtensionAtomically) {
  auto dir = scratch_dir("w");
  Image img = read_image(real_photo(1).first);
  write_image(dir / "a.png", img);
  write_image(dir / "b.JPG", img);
  EXPECT_EQ(read_image(dir / "a.png").rgb, img.rgb);
  EXPECT_EQ(read_image(dir / "b.JPG").width, img.width);
  EXPECT_THROW(write_image(dir / "c.bmp", img), InvalidInput);
  EXPECT_FALSE(std::filesystem::exists(dir / "c.bmp"));
}

TEST(Image, GreyscaleJpegComesOutRgb) {
  const int w = 32, h = 24;
  std::vector<uint8_t> grey(w * h);
  for (int i = 0; i < w * h; ++i) grey[i] = uint8_t((i * 7) % 256);
  auto jpg = jpeg_of_pixels(grey, w, h, TJPF_GRAY, TJSAMP_GRAY);
  Image img = decode_image(jpg.data(), jpg.size(), "grey.jpg");
  ASSERT_EQ(img.rgb.size(), size_t(w * h * 3));
  for (int i = 0; i < w * h; ++i) {
    EXPECT_EQ(img.rgb[i * 3], img.rgb[i * 3 + 1]);
    EXPECT_EQ(img.rgb[i * 3], img.rgb[i * 3 + 2]);
  }
}

TEST(Image, AdobeCmykJpegComesOutRgb) {
  const int w = 16, h = 16;
  // libjpeg writes CMYK with Adobe's APP14 marker, as Photoshop does: the
  // values are inverted (255 = no ink), so (255,0,0,255) is no cyan, full
  // magenta and yellow, no black: red.
  std::vector<uint8_t> cmyk(w * h * 4);
  for (int i = 0; i < w * h; ++i) {
    cmyk[i * 4] = 255;
    cmyk[i * 4 + 1] = 0;
    cmyk[i * 4 + 2] = 0;
    cmyk[i * 4 + 3] = 255;
  }
  auto jpg = jpeg_of_pixels(cmyk, w, h, TJPF_CMYK, TJSAMP_444);
  Image img = decode_image(jpg.data(), jpg.size(), "cmyk.jpg");
  ASSERT_EQ(img.rgb.size(), size_t(w * h * 3));
  EXPECT_GT(img.rgb[0], 240);
  EXPECT_LT(img.rgb[1], 15);
  EXPECT_LT(img.rgb[2], 15);
}

double mean_abs_diff(const Image& a, const Image& b) {
  double sum = 0;
  for (size_t i = 0; i < a.rgb.size(); ++i) sum += std::abs(int(a.rgb[i]) - int(b.rgb[i]));
  return a.rgb.empty() ? 0 : sum / double(a.rgb.size());
}

TEST(Image, EveryCameraImageClassDecodesUprightAndRgb) {
  // 40x24: not square, so a missed quarter turn shows in the size.
  const Image upright = testing::test_pattern(40, 24);
  const auto classes = testing::camera_image_classes(upright);
  ASSERT_GE(classes.size(), 35u);
  for (const auto& c : classes) {
    SCOPED_TRACE(c.name);
    ImageInfo info = read_image_info(c.bytes.data(), c.bytes.size(), c.name);
    EXPECT_EQ(info.width, 40);
    EXPECT_EQ(info.height, 24);
    Image got = decode_image(c.bytes.data(), c.bytes.size(), c.name);
    ASSERT_EQ(got.width, 40);
    ASSERT_EQ(got.height, 24);
    ASSERT_EQ(got.rgb.size(), upright.rgb.size());
    EXPECT_LE(mean_abs_diff(got, c.expected), c.tolerance);
  }
}

TEST(Image, OrientationFollowsTheExifDefinitionOfRowAndColumnZero) {
  // EXIF 2.3, tag 274: value -> which side of the shown picture stored row 0
  // and stored column 0 are. So stored pixel (0,0) lands in the corner of
  // those two sides, and the end of stored row 0 in the row side's other corner.
  enum Side { kTop, kBottom, kLeft, kRight };
  const std::pair<Side, Side> row0_col0[9] = {{},
                                              {kTop, kLeft},    {kTop, kRight},  {kBottom, kRight},
                                              {kBottom, kLeft}, {kLeft, kTop},   {kRight, kTop},
                                              {kRight, kBottom}, {kLeft, kBottom}};
  const int w = 5, h = 3;
  Image stored = testing::test_pattern(w, h);
  const uint8_t first[3] = {1, 2, 3}, last[3] = {200, 201, 202};
  std::copy(first, first + 3, stored.rgb.begin());
  std::copy(last, last + 3, stored.rgb.begin() + (w - 1) * 3);
  for (int o = 1; o <= 8; ++o) {
    SCOPED_TRACE(o);
    auto png = testing::png_with_orientation(stored, o);
    Image shown = decode_image(png.data(), png.size(), "o.png");
    const bool turned = o >= 5;
    ASSERT_EQ(shown.width, turned ? h : w);
    ASSERT_EQ(shown.height, turned ? w : h);
    auto corner = [&](Side a, Side b) {
      const bool right = a == kRight || b == kRight, bottom = a == kBottom || b == kBottom;
      const int x = right ? shown.width - 1 : 0, y = bottom ? shown.height - 1 : 0;
      return &shown.rgb[(size_t(y) * shown.width + x) * 3];
    };
    auto opposite = [](Side s) { return s == kTop ? kBottom : s == kBottom ? kTop : s == kLeft ? kRight : kLeft; };
    const auto [row_side, col_side] = row0_col0[o];
    EXPECT_TRUE(std::equal(first, first + 3, corner(row_side, col_side)));
    EXPECT_TRUE(std::equal(last, last + 3, corner(row_side, opposite(col_side))));
  }
}

TEST(Image, InvalidOrientationValuesAreIgnored) {
  const Image img = testing::test_pattern(12, 8);
  for (int o : {0, 9, 255}) {
    auto jpg = testing::jpeg_with_orientation(img, o);
    Image got = decode_image(jpg.data(), jpg.size(), "odd.jpg");
    EXPECT_EQ(got.width, 12);
    EXPECT_EQ(got.height, 8);
  }
}

TEST(Image, PalettePngWithTransparencyComesOutRgb) {
  PngLayout s;
  s.width = 4;
  s.height = 2;
  s.color_type = PNG_COLOR_TYPE_PALETTE;
  s.palette = {{255, 0, 0}, {0, 0, 255}};
  s.trans = {0, 255};
  const std::vector<uint8_t> idx = {0, 1, 0, 1, 1, 1, 0, 0};
  s.rows = idx;
  auto png = png_of_layout(s);
  Image img = decode_image(png.data(), png.size(), "pal.png");
  ASSERT_EQ(img.width, 4);
  ASSERT_EQ(img.rgb.size(), 4u * 2 * 3);
  for (size_t i = 0; i < idx.size(); ++i) {
    const uint8_t* px = &img.rgb[i * 3];
    if (idx[i] == 0) {
      EXPECT_EQ(px[0], 255);
      EXPECT_EQ(px[2], 0);
    } else {
      EXPECT_EQ(px[0], 0);
      EXPECT_EQ(px[2], 255);
    }
  }
}

TEST(Image, SixteenBitGreyAlphaPngComesOutRgb8) {
  PngLayout s;
  s.width = 3;
  s.height = 1;
  s.bit_depth = 16;
  s.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
  // Big-endian 16-bit grey then alpha: 0x0000, 0x8000, 0xFFFF grey.
  std::vector<uint8_t> row = {0, 0, 255, 255, 0x80, 0, 255, 255, 255, 255, 0, 0};
  s.rows = row;
  auto png = png_of_layout(s);
  Image img = decode_image(png.data(), png.size(), "ga16.png");
  ASSERT_EQ(img.rgb.size(), 9u);
  EXPECT_EQ(img.rgb[0], 0);
  EXPECT_EQ(img.rgb[3], 0x80);
  EXPECT_EQ(img.rgb[4], 0x80);
  EXPECT_EQ(img.rgb[6], 255);
  EXPECT_EQ(img.rgb[8], 255);
}

TEST(Image, TruncatedJpegIsRejected) {
  auto bytes = photo_bytes(2);
  bytes.resize(bytes.size() / 2);
  // The header is intact, so only the full decode can notice.
  EXPECT_NO_THROW(read_image_info(bytes.data(), bytes.size(), "half.jpg"));
  expect_invalid_naming([&] { decode_image(bytes.data(), bytes.size(), "half.jpg"); }, "half.jpg");
}

TEST(Image, CorruptJpegIsRejected) {
  auto bytes = photo_bytes(4);
  // Wipe the Huffman tables and the start of the scan.
  for (size_t i = 0; i < bytes.size() - 1; ++i) {
    if (bytes[i] == 0xFF && bytes[i + 1] == 0xC4) {  // DHT marker
      for (size_t j = i + 4; j < std::min(bytes.size(), i + 300); ++j) bytes[j] = 0xFF;
      break;
    }
  }
  expect_invalid_naming([&] { decode_image(bytes.data(), bytes.size(), "bad.jpg"); }, "bad.jpg");
}

TEST(Image, TruncatedPngIsRejected) {
  auto png = encode_png(read_image(real_photo(6).first));
  png.resize(png.size() * 2 / 3);
  expect_invalid_naming([&] { decode_image(png.data(), png.size(), "cut.png"); }, "cut.png");
}

TEST(Image, GarbageAndEmptyDataAreRejected) {
  std::vector<uint8_t> garbage(1000);
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = uint8_t(i * 31 + 7);
  EXPECT_EQ(sniff_format(garbage.data(), garbage.size()), ImageFormat::kUnknown);
  expect_invalid_naming([&] { decode_image(garbage.data(), garbage.size(), "junk.bin"); }, "junk.bin");
  expect_invalid_naming([&] { read_image_info(garbage.data(), garbage.size(), "junk.bin"); }, "junk.bin");
  expect_invalid_naming([&] { decode_image(nullptr, 0, "empty"); }, "empty");
  // JPEG magic followed by nonsense.
  std::vector<uint8_t> fake = {0xFF, 0xD8, 0xFF, 0x00, 0x01, 0x02};
  expect_invalid_naming([&] { decode_image(fake.data(), fake.size(), "fake.jpg"); }, "fake.jpg");

  auto dir = scratch_dir("e");
  std::ofstream(dir / "empty.jpg").close();
  expect_invalid_naming([&] { read_image(dir / "empty.jpg"); }, "empty.jpg");
  EXPECT_THROW(read_image(dir / "missing.jpg"), IoError);
}

TEST(Image, HugePngHeaderIsRejectedBeforeAllocation) {
  PngLayout s;
  s.width = s.height = 30000;
  s.header_only = true;
  auto png = png_of_layout(s);
  ImageInfo info = read_image_info(png.data(), png.size(), "bomb.png");
  EXPECT_EQ(info.width, 30000);
  EXPECT_EQ(info.height, 30000);
  try {
    decode_image(png.data(), png.size(), "bomb.png");
    FAIL() << "expected the pixel limit to reject it";
  } catch (const InvalidInput& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("bomb.png"), std::string::npos);
    EXPECT_NE(msg.find("limit"), std::string::npos) << msg;
  }
  // A tighter limit rejects even an ordinary photo.
  auto bytes = photo_bytes(0);
  DecodeLimits tight;
  tight.max_pixels = 100;
  EXPECT_THROW(decode_image(bytes.data(), bytes.size(), "p0", tight), InvalidInput);
}

}  // namespace
}  // namespace agegate
