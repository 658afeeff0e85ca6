// What the fuzz targets share: a private scratch folder for targets whose
// input is a file, and the rule that only the library's own error types are
// expected answers.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "agegate/core/fs.h"

namespace agegate::fuzz {

inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("agegate-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::filesystem::path write_input(const std::string& name, const uint8_t* data, size_t size) {
  auto p = scratch() / name;
  write_file_atomic(p, std::string_view(reinterpret_cast<const char*>(data), size));
  return p;
}

}  // namespace agegate::fuzz
