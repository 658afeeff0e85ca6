// Decoded photos and the JPEG/PNG codecs (libjpeg-turbo, libpng).
// Torch-free so the detector, the service and the EDA can use it cheaply.
//
//   agegate::Image img = agegate::read_image("face.jpg");   // throws on a bad file
//   auto bytes = agegate::encode_jpeg(img, 90);
//
// All functions are thread-safe (no shared state).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace agegate {

enum class ImageFormat { kJpeg, kPng, kUnknown };
const char* to_string(ImageFormat f);

// Interleaved 8-bit RGB, row-major: pixel (x,y) channel c at rgb[(y*width+x)*3+c].
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;
  bool empty() const { return width == 0 || height == 0; }
};

// EXIF orientation (TIFF tag 274): how the stored pixels must be turned to
// be seen upright. 1 upright, 2 mirrored, 3 turned 180°, 4 flipped, 5
// transposed, 6 stored turned 90° anticlockwise (shown turned 90°
// clockwise), 7 transversed, 8 stored turned 90° clockwise.
inline constexpr int kOrientationUpright = 1;

struct ImageInfo {
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0;   // as shown, after the orientation is applied
  int height = 0;
  int orientation = kOrientationUpright;  // from the JPEG's APP1 Exif or the PNG's eXIf; 1 when absent or invalid
};

// Turns stored pixels upright for an EXIF orientation 1-8 (others: unchanged).
Image apply_orientation(const Image& stored, int orientation);

// Limits applied before any pixel buffer is allocated (decompression bombs).
struct DecodeLimits {
  static constexpr int64_t kDefaultMaxPixels = int64_t(40) * 1000 * 1000;
  int64_t max_pixels = kDefaultMaxPixels;
};

// Format from the first bytes (magic numbers), not from a file name.
ImageFormat sniff_format(const uint8_t* data, size_t size);

// Reads only the header. Throws InvalidInput naming `what` (a file name or
// "request body") when the bytes are not a readable JPEG/PNG.
ImageInfo read_image_info(const uint8_t* data, size_t size, const std::string& what);

// Full decode to RGB, upright: greyscale, 16-bit, palette and alpha PNG,
// progressive, greyscale and CMYK/YCCK JPEG (Adobe's inverted CMYK, the
// common kind, when the file carries Adobe's APP14 marker) are converted,
// and the EXIF orientation is applied. Throws InvalidInput naming `what` for
// corrupt, truncated, unsupported or oversized data.
Image decode_image(const uint8_t* data, size_t size, const std::string& what,
                   const DecodeLimits& limits = {});

// Reads and decodes a file. IoError if it cannot be read, InvalidInput if it
// cannot be decoded; both name the path.
Image read_image(const std::filesystem::path& path, const DecodeLimits& limits = {});

std::vector<uint8_t> encode_jpeg(const Image& img, int quality = 90);
std::vector<uint8_t> encode_png(const Image& img);
// Writes atomically by extension (.jpg/.jpeg/.png). Never used by the service.
void write_image(const std::filesystem::path& path, const Image& img);

}  // namespace agegate
