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

struct ImageInfo {
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0;
  int height = 0;
};

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

// Full decode to RGB (greyscale, CMYK, palette, 16-bit and alpha are
// converted). Throws InvalidInput naming `what` for corrupt, truncated,
// unsupported or oversized data.
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
