// Progress on stderr for long work: items done, rate, time left.
// Not thread-safe: one thread owns a Progress and calls update().
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace agegate {

class Progress {
 public:
  // total <= 0 means unknown. `unit` names what is counted ("img", "photos").
  Progress(std::string label, int64_t total, std::string unit = "items");
  ~Progress();

  // Sets the absolute count; `extra` is appended (e.g. "loss 3.1 mae 7.2").
  // Prints at most a few times per second unless `force`.
  void update(int64_t done, const std::string& extra = "", bool force = false);
  void finish(const std::string& extra = "");

  double elapsed_seconds() const;
  double rate() const;  // items per second since construction

  // Globally silence progress output (tests, --quiet).
  static void set_enabled(bool enabled);

 private:
  std::string label_;
  int64_t total_;
  std::string unit_;
  int64_t done_ = 0;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
};

// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace agegate
