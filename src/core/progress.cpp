// Progress lines on stderr: a redrawn line on a terminal, one line per update in a log (see progress.h).
#include "agegate/core/progress.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <unistd.h>

namespace agegate {
namespace {
std::atomic<bool> g_enabled{true};
constexpr double kMinSecondsBetweenPrints = 0.5;

// On a terminal, redraw one line (ended by the last one); in a log file, one line per update.
void emit(const std::string& line, bool last) {
  if (isatty(STDERR_FILENO)) {
    std::fprintf(stderr, last ? "\r\033[K%s\n" : "\r\033[K%s", line.c_str());
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}
}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%llds", s);
  }
  return buf;
}

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_ - std::chrono::seconds(10)) {}

Progress::~Progress() {
  if (!finished_ && done_ > 0) finish();
}

void Progress::set_enabled(bool enabled) { g_enabled = enabled; }

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double Progress::rate() const {
  double t = elapsed_seconds();
  return t > 0 ? double(done_) / t : 0.0;
}

void Progress::update(int64_t done, const std::string& extra, bool force) {
  done_ = done;
  if (!g_enabled) return;
  auto now = std::chrono::steady_clock::now();
  if (!force && std::chrono::duration<double>(now - last_print_).count() < kMinSecondsBetweenPrints) {
    return;
  }
  last_print_ = now;
  double r = rate();
  std::string line = label_ + ": " + std::to_string(done_);
  if (total_ > 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, " (%.0f%%)", 100.0 * double(done_) / double(total_));
    line += "/" + std::to_string(total_) + pct;
  }
  char rate_buf[64];
  std::snprintf(rate_buf, sizeof rate_buf, " %.1f %s/s", r, unit_.c_str());
  line += rate_buf;
  if (total_ > 0 && r > 0) line += " left " + format_duration(double(total_ - done_) / r);
  if (!extra.empty()) line += " | " + extra;
  emit(line, /*last=*/false);
}

void Progress::finish(const std::string& extra) {
  if (finished_) return;
  finished_ = true;
  if (!g_enabled) return;
  std::string line = label_ + ": " + std::to_string(done_) + " " + unit_ + " in " +
                     format_duration(elapsed_seconds());
  char rate_buf[64];
  std::snprintf(rate_buf, sizeof rate_buf, " (%.1f %s/s)", rate(), unit_.c_str());
  line += rate_buf;
  if (!extra.empty()) line += " | " + extra;
  emit(line, /*last=*/true);
}

}  // namespace agegate
