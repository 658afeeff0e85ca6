// Atomic writes, whole-file reads and the FNV-1a fingerprint (see fs.h).
#include "agegate/core/fs.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <unistd.h>

#include "agegate/core/error.h"

namespace agegate {
namespace fs = std::filesystem;

void write_file_atomic(const fs::path& path, std::string_view data) {
  std::error_code ec;
  if (path.has_parent_path()) {
    fs::create_directories(path.parent_path(), ec);
    if (ec) throw IoError("cannot create folder " + path.parent_path().string() + ": " + ec.message());
  }
  std::random_device rd;
  fs::path tmp = path;
  tmp += ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(rd());
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw IoError("cannot write " + tmp.string() + ": " + std::strerror(errno));
    bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
    ok = (std::fflush(f) == 0) && ok;
    ok = (::fsync(::fileno(f)) == 0) && ok;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) {
      fs::remove(tmp, ec);
      throw IoError("failed writing " + path.string() + ": " + std::strerror(errno));
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw IoError("cannot rename temporary file onto " + path.string() + ": " + ec.message());
  }
}

std::string read_file(const fs::path& path, uint64_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open " + path.string() + ": " + std::strerror(errno));
  in.seekg(0, std::ios::end);
  auto size = static_cast<uint64_t>(in.tellg());
  if (size > max_bytes) {
    throw IoError(path.string() + " is " + std::to_string(size) + " bytes, more than the " +
                  std::to_string(max_bytes) + " allowed");
  }
  in.seekg(0);
  std::string out(size, '\0');
  if (size > 0 && !in.read(out.data(), static_cast<std::streamsize>(size))) {
    throw IoError("cannot read " + path.string());
  }
  return out;
}

std::vector<uint8_t> read_file_bytes(const fs::path& path, uint64_t max_bytes) {
  std::string s = read_file(path, max_bytes);
  return std::vector<uint8_t>(s.begin(), s.end());
}

uint64_t fnv1a64(std::string_view data, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace agegate
