// Every kind of image a camera or phone may send, made from one upright
// picture: the test suite decodes each class and the fuzz corpus starts from
// them (fuzz/make_corpus.cpp), so no photo from ../shared is ever committed.
//
//   Image upright = ...;
//   for (const CameraImage& c : camera_image_classes(upright)) {
//     Image got = decode_image(c.bytes.data(), c.bytes.size(), c.name);
//     // got ~ c.expected within c.tolerance (mean absolute difference, 0-255)
//   }
#pragma once
#include <png.h>

#include <cstdint>
#include <string>
#include <vector>

#include "agegate/data/image.h"

namespace agegate::testing {

// Raw pixels of any TurboJPEG pixel format (TJPF_RGB, TJPF_GRAY, TJPF_CMYK)
// to JPEG at quality 95, with TurboJPEG subsampling and flags.
std::vector<uint8_t> jpeg_of_pixels(const std::vector<uint8_t>& pixels, int width, int height, int pixel_format,
                                    int subsampling, int flags = 0);

// Any PNG libpng can write, including the layouts encode_png never writes.
struct PngLayout {
  int width = 0, height = 0, bit_depth = 8, color_type = PNG_COLOR_TYPE_RGB;
  std::vector<png_color> palette;
  std::vector<png_byte> trans;
  bool header_only = false;   // the header and a token IDAT instead of rows (a "bomb")
  bool interlaced = false;    // Adam7
  std::vector<uint8_t> exif;  // an eXIf chunk (the block without "Exif\0\0")
  std::vector<uint8_t> rows;  // packed rows, `height` of them
};
std::vector<uint8_t> png_of_layout(const PngLayout& layout);

struct CameraImage {
  std::string name;            // e.g. "jpeg-exif6", "png-palette-trns"
  std::vector<uint8_t> bytes;  // the encoded file
  Image expected;              // what decoding must give (upright, RGB)
  double tolerance = 0;        // mean absolute difference allowed (JPEG loss)
};

// JPEG of `stored` with an APP1 Exif block whose orientation is `orientation`
// (written with libexif, little- or big-endian).
std::vector<uint8_t> jpeg_with_orientation(const Image& stored, int orientation, bool big_endian = false);
// PNG of `stored` with an eXIf chunk before the pixels.
std::vector<uint8_t> png_with_orientation(const Image& stored, int orientation);
// The stored pixels a camera writes so that `orientation` shows `upright`.
Image stored_for_orientation(const Image& upright, int orientation);
// Adobe-style (inverted) CMYK JPEG, as Photoshop and libjpeg write it.
std::vector<uint8_t> cmyk_jpeg(const Image& img);
// Progressive JPEG.
std::vector<uint8_t> progressive_jpeg(const Image& img);
// The luminance TurboJPEG and libpng use for greyscale (BT.601), as RGB.
Image to_grey(const Image& img);

// All classes: baseline, progressive, greyscale and CMYK JPEG; the eight EXIF
// orientations in JPEG (both byte orders) and PNG; RGB, RGBA, 16-bit RGB,
// grey 1/2/4/8/16-bit, grey+alpha, palette with and without transparency,
// and interlaced PNG.
std::vector<CameraImage> camera_image_classes(const Image& upright);

// A picture with four differently coloured quadrants and a gradient, so
// orientation mistakes and channel swaps show.
Image test_pattern(int width, int height);

// Camera frames made from real photos: a grey (128) frame, and a photo
// pasted into it at (x, y), enlarged by an integer factor (nearest
// neighbour). The photo must fit.
Image grey_frame(int width, int height);
void paste(Image& frame, const Image& photo, int x, int y, int scale = 1);

}  // namespace agegate::testing
