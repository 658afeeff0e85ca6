// Atomic writes, whole-file reads and the FNV-1a fingerprint (see fs.h).
#include "agegate/core/fs.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <fcntl.h>
#include <unistd.h>

#include "agegate/core/error.h"

namespace agegate {
namespace fs = std::filesystem;

namespace {
constexpr const char* kTempMarker = ".tmp";

std::string reason(int err) { return std::strerror(err); }

// Best effort: makes the rename itself durable (power loss); a folder that
// cannot be opened for it (some network file systems) is not an error.
void sync_folder(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

void write_file_atomic(const fs::path& path, std::string_view data) {
  std::error_code ec;
  if (path.has_parent_path()) {
    fs::create_directories(path.parent_path(), ec);
    if (ec) throw IoError("cannot write " + path.string() + ": cannot create folder " + path.parent_path().string() + ": " + ec.message());
  }
  std::random_device rd;
  fs::path tmp = path;
  tmp += kTempMarker + std::to_string(::getpid()) + "-" + std::to_string(rd());
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw IoError("cannot write " + path.string() + ": " + reason(errno));
    int err = 0;
    if (std::fwrite(data.data(), 1, data.size(), f) != data.size()) err = errno;
    if (std::fflush(f) != 0 && !err) err = errno;
    if (::fsync(::fileno(f)) != 0 && !err) err = errno;
    if (std::fclose(f) != 0 && !err) err = errno;
    if (err) {
      fs::remove(tmp, ec);
      throw IoError("cannot write " + path.string() + ": " + reason(err) + " (" + std::to_string(data.size()) +
                    " bytes; the previous file, if any, is unchanged)");
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw IoError("cannot write " + path.string() + ": cannot rename the temporary file onto it: " + ec.message());
  }
  sync_folder(path.parent_path());
}

void create_folder(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IoError("cannot create folder " + dir.string() + ": " + ec.message());
}

int remove_stale_temporaries(const fs::path& dir) {
  std::error_code ec;
  int removed = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const size_t at = name.rfind(kTempMarker);
    if (at == std::string::npos || at == 0) continue;
    const std::string tail = name.substr(at + std::strlen(kTempMarker));  // <pid>-<n>
    const size_t dash = tail.find('-');
    const auto digits = [](const std::string& t) {
      return !t.empty() && t.find_first_not_of("0123456789") == std::string::npos;
    };
    if (dash == std::string::npos || !digits(tail.substr(0, dash)) || !digits(tail.substr(dash + 1))) continue;
    std::error_code rm;
    if (fs::remove(it->path(), rm)) ++removed;
  }
  return removed;
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
