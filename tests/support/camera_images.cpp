// Encoders for every image class a camera may send (see camera_images.h).
#include "camera_images.h"

#include <libexif/exif-data.h>
#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <stdexcept>

namespace agegate::testing {
namespace {

constexpr int kQuality = 95;
constexpr double kJpegTolerance = 6.0;

// The Exif block (starting "Exif\0\0") holding only an orientation tag.
std::vector<uint8_t> exif_block(int orientation, bool big_endian) {
  ExifData* ed = exif_data_new();
  exif_data_set_byte_order(ed, big_endian ? EXIF_BYTE_ORDER_MOTOROLA : EXIF_BYTE_ORDER_INTEL);
  ExifEntry* e = exif_entry_new();
  exif_content_add_entry(ed->ifd[EXIF_IFD_0], e);
  exif_entry_initialize(e, EXIF_TAG_ORIENTATION);
  exif_set_short(e->data, exif_data_get_byte_order(ed), static_cast<ExifShort>(orientation));
  exif_entry_unref(e);
  unsigned char* buf = nullptr;
  unsigned int len = 0;
  exif_data_save_data(ed, &buf, &len);
  exif_data_unref(ed);
  if (!buf) throw std::runtime_error("libexif could not write the test Exif block");
  std::vector<uint8_t> out(buf, buf + len);
  free(buf);  // libexif allocates with its default (malloc) allocator
  return out;
}

void png_append(png_structp png, png_bytep data, png_size_t n) {
  auto* out = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}

bool png_write_all(png_structp png, png_infop info, const PngLayout* s, std::vector<uint8_t>* out) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_write_fn(png, out, png_append, nullptr);
  png_set_IHDR(png, info, s->width, s->height, s->bit_depth, s->color_type,
               s->interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!s->palette.empty()) png_set_PLTE(png, info, s->palette.data(), int(s->palette.size()));
  if (!s->trans.empty()) png_set_tRNS(png, info, s->trans.data(), int(s->trans.size()), nullptr);
  if (!s->exif.empty()) png_set_eXIf_1(png, info, png_uint_32(s->exif.size()), const_cast<png_bytep>(s->exif.data()));
  png_write_info(png, info);
  if (s->header_only) {
    png_byte token[] = {0x78, 0x9C, 0x01, 0x02, 0x03};
    png_write_chunk(png, reinterpret_cast<png_const_bytep>("IDAT"), token, sizeof(token));
    return true;
  }
  const size_t row = s->rows.size() / size_t(s->height);
  const int passes = png_set_interlace_handling(png);
  for (int p = 0; p < passes; ++p) {
    for (int y = 0; y < s->height; ++y) png_write_row(png, const_cast<png_bytep>(s->rows.data() + y * row));
  }
  png_write_end(png, nullptr);
  return true;
}

}  // namespace

std::vector<uint8_t> png_of_layout(const PngLayout& s) {
  std::vector<uint8_t> out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  const bool ok = png_write_all(png, info, &s, &out);
  png_destroy_write_struct(&png, &info);
  if (!ok) throw std::runtime_error("test PNG encoding failed");
  return out;
}

std::vector<uint8_t> jpeg_of_pixels(const std::vector<uint8_t>& px, int w, int h, int pf, int samp, int flags) {
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  const int rc = tjCompress2(tj, px.data(), w, 0, h, pf, &buf, &len, samp, kQuality, flags);
  std::string err = rc != 0 ? tjGetErrorStr2(tj) : "";
  tjDestroy(tj);
  if (rc != 0) throw std::runtime_error("test JPEG encoding failed: " + err);
  std::vector<uint8_t> out(buf, buf + len);
  tjFree(buf);
  return out;
}

namespace {

PngLayout rgb_png(const Image& img) {
  PngLayout s;
  s.width = img.width;
  s.height = img.height;
  s.rows = img.rgb;
  return s;
}

uint8_t px(const Image& img, int x, int y, int c) { return img.rgb[(size_t(y) * img.width + x) * 3 + c]; }

// Grey at `bits` per pixel, packed as PNG wants; `expected` receives what libpng expands it to.
PngLayout grey_png(const Image& img, int bits, Image* expected) {
  Image grey = to_grey(img);
  PngLayout s;
  s.width = img.width;
  s.height = img.height;
  s.bit_depth = bits;
  s.color_type = PNG_COLOR_TYPE_GRAY;
  *expected = grey;
  const int levels = (1 << std::min(bits, 8)) - 1;
  const size_t row_bytes = bits == 16 ? size_t(img.width) * 2 : (size_t(img.width) * bits + 7) / 8;
  s.rows.assign(row_bytes * img.height, 0);
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x < img.width; ++x) {
      const int g = px(grey, x, y, 0);
      uint8_t* row = &s.rows[y * row_bytes];
      if (bits == 16) {
        row[2 * x] = uint8_t(g);
        row[2 * x + 1] = uint8_t(g);
        continue;
      }
      const int q = (g * levels + 127) / 255;
      const int shown = q * 255 / levels;
      for (int c = 0; c < 3; ++c) expected->rgb[(size_t(y) * img.width + x) * 3 + c] = uint8_t(shown);
      const int bit = x * bits;
      row[bit / 8] |= uint8_t(q << (8 - bits - bit % 8));
    }
  }
  return s;
}

}  // namespace

Image test_pattern(int width, int height) {
  Image img;
  img.width = width;
  img.height = height;
  img.rgb.resize(size_t(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const bool right = x >= width / 2, bottom = y >= height / 2;
      uint8_t* p = &img.rgb[(size_t(y) * width + x) * 3];
      p[0] = uint8_t(right ? 220 : 30);
      p[1] = uint8_t(bottom ? 200 : 40);
      p[2] = uint8_t(60 + (x * 120) / std::max(1, width));
    }
  }
  return img;
}

Image to_grey(const Image& img) {
  Image out = img;
  for (size_t i = 0; i + 2 < img.rgb.size(); i += 3) {
    const double g = 0.299 * img.rgb[i] + 0.587 * img.rgb[i + 1] + 0.114 * img.rgb[i + 2];
    const auto v = static_cast<uint8_t>(std::lround(g));
    out.rgb[i] = out.rgb[i + 1] = out.rgb[i + 2] = v;
  }
  return out;
}

Image stored_for_orientation(const Image& upright, int orientation) {
  // The inverse turn: 6 and 8 undo each other, every other value is its own inverse.
  const int inverse = orientation == 6 ? 8 : orientation == 8 ? 6 : orientation;
  return apply_orientation(upright, inverse);
}

std::vector<uint8_t> jpeg_with_orientation(const Image& stored, int orientation, bool big_endian) {
  std::vector<uint8_t> jpg = jpeg_of_pixels(stored.rgb, stored.width, stored.height, TJPF_RGB, TJSAMP_444, 0);
  std::vector<uint8_t> exif = exif_block(orientation, big_endian);
  const size_t seg = exif.size() + 2;
  std::vector<uint8_t> app1 = {0xFF, 0xE1, uint8_t(seg >> 8), uint8_t(seg & 0xFF)};
  app1.insert(app1.end(), exif.begin(), exif.end());
  jpg.insert(jpg.begin() + 2, app1.begin(), app1.end());  // right after SOI
  return jpg;
}

std::vector<uint8_t> png_with_orientation(const Image& stored, int orientation) {
  PngLayout s = rgb_png(stored);
  std::vector<uint8_t> exif = exif_block(orientation, false);
  s.exif.assign(exif.begin() + 6, exif.end());  // eXIf holds the block without "Exif\0\0"
  return png_of_layout(s);
}

std::vector<uint8_t> cmyk_jpeg(const Image& img) {
  // Inverted CMYK: C = R, M = G, Y = B, K = 255 means no ink beyond the colour itself.
  std::vector<uint8_t> cmyk(size_t(img.width) * img.height * 4);
  for (size_t i = 0, o = 0; i < img.rgb.size(); i += 3, o += 4) {
    cmyk[o] = img.rgb[i];
    cmyk[o + 1] = img.rgb[i + 1];
    cmyk[o + 2] = img.rgb[i + 2];
    cmyk[o + 3] = 255;
  }
  return jpeg_of_pixels(cmyk, img.width, img.height, TJPF_CMYK, TJSAMP_444, 0);
}

std::vector<uint8_t> progressive_jpeg(const Image& img) {
  return jpeg_of_pixels(img.rgb, img.width, img.height, TJPF_RGB, TJSAMP_420, TJFLAG_PROGRESSIVE);
}

std::vector<CameraImage> camera_image_classes(const Image& upright) {
  std::vector<CameraImage> out;
  auto add = [&](std::string name, std::vector<uint8_t> bytes, Image expected, double tol) {
    out.push_back({std::move(name), std::move(bytes), std::move(expected), tol});
  };
  add("jpeg-baseline", jpeg_of_pixels(upright.rgb, upright.width, upright.height, TJPF_RGB, TJSAMP_420, 0),
      upright, kJpegTolerance);
  add("jpeg-progressive", progressive_jpeg(upright), upright, kJpegTolerance);
  Image grey = to_grey(upright);
  add("jpeg-grey", jpeg_of_pixels(grey.rgb, upright.width, upright.height, TJPF_RGB, TJSAMP_GRAY, 0), grey,
      kJpegTolerance);
  add("jpeg-cmyk-adobe", cmyk_jpeg(upright), upright, kJpegTolerance);
  for (int o = 1; o <= 8; ++o) {
    const Image stored = stored_for_orientation(upright, o);
    add("jpeg-exif" + std::to_string(o), jpeg_with_orientation(stored, o), upright, kJpegTolerance);
    add("jpeg-exif" + std::to_string(o) + "-motorola", jpeg_with_orientation(stored, o, true), upright,
        kJpegTolerance);
    add("png-exif" + std::to_string(o), png_with_orientation(stored, o), upright, 0);
  }
  add("png-rgb", png_of_layout(rgb_png(upright)), upright, 0);
  {
    PngLayout s = rgb_png(upright);
    s.interlaced = true;
    add("png-interlaced", png_of_layout(s), upright, 0);
  }
  {
    PngLayout s = rgb_png(upright);
    s.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
    s.rows.clear();
    for (size_t i = 0; i < upright.rgb.size(); i += 3) {
      s.rows.insert(s.rows.end(), {upright.rgb[i], upright.rgb[i + 1], upright.rgb[i + 2], uint8_t(i % 251)});
    }
    add("png-rgba", png_of_layout(s), upright, 0);
  }
  {
    PngLayout s = rgb_png(upright);
    s.bit_depth = 16;
    s.rows.clear();
    for (uint8_t v : upright.rgb) s.rows.insert(s.rows.end(), {v, uint8_t(255 - v)});  // low byte is dropped
    add("png-rgb16", png_of_layout(s), upright, 0);
  }
  for (int bits : {1, 2, 4, 8, 16}) {
    Image expected;
    PngLayout s = grey_png(upright, bits, &expected);
    add("png-grey" + std::to_string(bits), png_of_layout(s), expected, 0);
  }
  {
    PngLayout s;
    s.width = upright.width;
    s.height = upright.height;
    s.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
    for (size_t i = 0; i < grey.rgb.size(); i += 3) s.rows.insert(s.rows.end(), {grey.rgb[i], uint8_t(i % 200)});
    add("png-grey-alpha", png_of_layout(s), grey, 0);
  }
  for (bool trns : {false, true}) {
    // A 3-3-2 bit palette: every colour maps to its nearest entry.
    PngLayout s;
    s.width = upright.width;
    s.height = upright.height;
    s.color_type = PNG_COLOR_TYPE_PALETTE;
    for (int i = 0; i < 256; ++i) {
      s.palette.push_back({png_byte((i >> 5) * 255 / 7), png_byte(((i >> 2) & 7) * 255 / 7), png_byte((i & 3) * 255 / 3)});
      if (trns) s.trans.push_back(png_byte(i));
    }
    Image expected = upright;
    for (size_t i = 0; i < upright.rgb.size(); i += 3) {
      const int r = upright.rgb[i] * 7 / 255 + (upright.rgb[i] * 7 % 255 > 127);
      const int g = upright.rgb[i + 1] * 7 / 255 + (upright.rgb[i + 1] * 7 % 255 > 127);
      const int b = upright.rgb[i + 2] * 3 / 255 + (upright.rgb[i + 2] * 3 % 255 > 127);
      const int idx = (r << 5) | (g << 2) | b;
      s.rows.push_back(uint8_t(idx));
      expected.rgb[i] = s.palette[idx].red;
      expected.rgb[i + 1] = s.palette[idx].green;
      expected.rgb[i + 2] = s.palette[idx].blue;
    }
    add(trns ? "png-palette-trns" : "png-palette", png_of_layout(s), expected, 0);
  }
  return out;
}

Image grey_frame(int width, int height) {
  Image img;
  img.width = width;
  img.height = height;
  img.rgb.assign(static_cast<size_t>(width) * height * 3, 128);
  return img;
}

void paste(Image& frame, const Image& photo, int x, int y, int scale) {
  for (int py = 0; py < photo.height * scale; ++py) {
    for (int px = 0; px < photo.width * scale; ++px) {
      const uint8_t* src = &photo.rgb[(static_cast<size_t>(py / scale) * photo.width + px / scale) * 3];
      std::copy_n(src, 3, &frame.rgb[(static_cast<size_t>(y + py) * frame.width + x + px) * 3]);
    }
  }
}

}  // namespace agegate::testing
