// JPEG/PNG decoding (TurboJPEG, jpeglib markers, libexif, libpng) and the
// orientation: bytes from a camera or a client.
#include <cstddef>
#include <cstdint>

#include "agegate/core/error.h"
#include "agegate/data/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  agegate::DecodeLimits limits;
  limits.max_pixels = 4 * 1000 * 1000;  // the fuzzer's memory limit, not the service's
  try {
    agegate::ImageInfo info = agegate::read_image_info(data, size, "fuzz");
    agegate::Image img = agegate::decode_image(data, size, "fuzz", limits);
    if (img.width != info.width || img.height != info.height) __builtin_trap();  // info and pixels agree
    if (img.rgb.size() != size_t(img.width) * img.height * 3) __builtin_trap();
  } catch (const agegate::InvalidInput&) {
  }
  return 0;
}
