// Default paths, build facts, thread count and run metadata (see run_info.h).
#include "agegate/core/run_info.h"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "agegate/build_info.h"

namespace agegate {
namespace fs = std::filesystem;

namespace {
constexpr int kMaxDefaultThreads = 16;
}

fs::path default_shared_dir() {
  if (const char* env = std::getenv("AGEGATE_SHARED_DIR"); env && *env) return env;
  return build::kDefaultSharedDir;
}
fs::path default_data_dir() { return default_shared_dir() / "data" / "faces"; }
fs::path default_weights_dir() { return default_shared_dir() / "weights"; }
fs::path default_model_path() {
  if (const char* env = std::getenv("AGEGATE_MODEL"); env && *env) return env;
  return fs::path(build::kSourceDir) / "models" / "agegate.agm";
}

std::string git_revision() { return build::kGitRevision; }
std::string agegate_version() { return build::kVersion; }

std::string utc_timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json run_metadata(const std::string& command, const nlohmann::json& options,
                            uint64_t seed) {
  return {{"command", command},         {"options", options},
          {"seed", seed},               {"git", git_revision()},
          {"version", agegate_version()}, {"started", utc_timestamp()}};
}

int default_thread_count() {
  if (const char* env = std::getenv("OMP_NUM_THREADS"); env && *env) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  int hw = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(hw, 1, kMaxDefaultThreads);
}

}  // namespace agegate
