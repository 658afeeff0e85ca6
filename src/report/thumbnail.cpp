// Small JPEG thumbnails of photos for the report galleries (see thumbnail.h).
#include "thumbnail.h"

#include <cctype>

#include "agegate/core/fs.h"
#include "agegate/data/preprocess.h"

namespace agegate::report_detail {

namespace {
constexpr int kThumbQuality = 85;
}

void write_thumbnail(const Image& img, int side, const std::filesystem::path& path) {
  PreprocessSpec spec;
  spec.input_size = side;
  Image small = tensor_to_image(prepare(img, spec));
  auto bytes = encode_jpeg(small, kThumbQuality);
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string safe_file_name(const std::string& prefix, const std::string& name) {
  std::string out = prefix;
  for (char c : std::filesystem::path(name).stem().string()) {
    bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    out += keep ? c : '_';
  }
  return out;
}

}  // namespace agegate::report_detail
