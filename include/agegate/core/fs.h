// File helpers: atomic writes (temporary file + rename, so a crash never
// leaves half a file), whole-file reads with clear errors.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace agegate {

// Writes `data` to `path` atomically: a temporary file beside it (named
// PATH.tmp<pid>-<n>), fsync, rename over PATH, fsync of the folder. A crash or
// SIGKILL at any moment leaves PATH as it was or as written, never half of
// it. Creates parent folders. Throws IoError naming PATH and the reason (a
// full disk, a read-only folder); the temporary file is removed then and
// PATH is untouched.
void write_file_atomic(const std::filesystem::path& path, std::string_view data);

// Creates `dir` and its parents; IoError naming it and the reason (read-only, full).
void create_folder(const std::filesystem::path& dir);

// Removes what write_file_atomic leaves in `dir` when killed mid-write;
// returns how many it removed. Only names of that exact form are touched.
int remove_stale_temporaries(const std::filesystem::path& dir);

// Reads a whole file. Throws IoError naming the path. `max_bytes` guards
// against reading something absurd by mistake.
std::string read_file(const std::filesystem::path& path, uint64_t max_bytes = uint64_t(1) << 32);
std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path,
                                     uint64_t max_bytes = uint64_t(1) << 32);

// Hex SHA-256 is not needed; a fast stable fingerprint (FNV-1a 64) of bytes.
uint64_t fnv1a64(std::string_view data, uint64_t seed = 1469598103934665603ULL);
std::string hex64(uint64_t v);

}  // namespace agegate
