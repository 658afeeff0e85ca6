// Signal handlers that raise a flag long loops poll (see interrupt.h).
#include "agegate/core/interrupt.h"

#include <atomic>
#include <csignal>

namespace agegate {
namespace {
std::atomic<bool> g_flag{false};
std::atomic<bool> g_reload{false};

extern "C" void on_reload(int) { g_reload = true; }

extern "C" void on_signal(int sig) {
  if (g_flag.load() && sig == SIGINT) {
    // Second Ctrl-C: the default action, now (raise is async-signal-safe).
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
    return;
  }
  g_flag = true;
}
}  // namespace

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}
bool interrupted() { return g_flag.load(std::memory_order_relaxed); }
void clear_interrupt() { g_flag = false; }

void install_reload_handler() { std::signal(SIGHUP, on_reload); }
bool take_reload_request() { return g_reload.exchange(false); }

}  // namespace agegate
