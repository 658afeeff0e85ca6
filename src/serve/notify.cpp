// sd_notify(3) messages for systemd's Type=notify (see notify.h).
#include "agegate/serve/notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <algorithm>

#include "agegate/core/log.h"

namespace agegate::service_manager {
namespace {

void send(const std::string& message) {
  // 0: keep NOTIFY_SOCKET for later messages. A negative result means the
  // manager did not get it; the service goes on (systemd times out the
  // start or the watchdog and says so in its own log).
  if (const int r = sd_notify(0, message.c_str()); r < 0) log().warn("sd_notify failed ({})", r);
}

std::string one_line(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    if (c == '\n') c = ' ';
  }
  return out;
}

}  // namespace

void ready(const std::string& status) { send("READY=1\nSTATUS=" + one_line(status)); }

void reloading(const std::string& status) {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const long long usec = static_cast<long long>(ts.tv_sec) * 1000000LL + ts.tv_nsec / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=" + one_line(status));
}

void stopping(const std::string& status) { send("STOPPING=1\nSTATUS=" + one_line(status)); }

void watchdog() { send("WATCHDOG=1"); }

std::optional<std::chrono::milliseconds> watchdog_interval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::milliseconds(std::max<uint64_t>(1, usec / 2000));
}

}  // namespace agegate::service_manager
