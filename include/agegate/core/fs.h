// File helpers: atomic writes (temporary file + rename, so a crash never
// leaves half a file), whole-file reads with clear errors.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace agegate {

// Writes `data` to `path` atomically. Creates parent folders. Throws IoError.
void write_file_atomic(const std::filesystem::path& path, std::string_view data);

// Reads a whole file. Throws IoError naming the path. `max_bytes` guards
// against reading something absurd by mistake.
std::string read_file(const std::filesystem::path& path, uint64_t max_bytes = uint64_t(1) << 32);
std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path,
                                     uint64_t max_bytes = uint64_t(1) << 32);

// Hex SHA-256 is not needed; a fast stable fingerprint (FNV-1a 64) of bytes.
uint64_t fnv1a64(std::string_view data, uint64_t seed = 1469598103934665603ULL);
std::string hex64(uint64_t v);

}  // namespace agegate
