// Small JPEG copies of photos for the report pages (private to report/).
#pragma once
#include <filesystem>

#include "agegate/data/image.h"

namespace agegate::report_detail {

// Writes a side x side JPEG of `img` (centre crop, resized with the project's
// preprocessing path) to `path`, atomically.
void write_thumbnail(const Image& img, int side, const std::filesystem::path& path);

// A file name safe to use inside the report folder, derived from `name`
// (letters, digits, '-', '_', '.' kept; the rest become '_'), with a prefix.
std::string safe_file_name(const std::string& prefix, const std::string& name);

}  // namespace agegate::report_detail
