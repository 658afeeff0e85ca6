// The stderr logger (see log.h).
#include "agegate/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "agegate/core/error.h"
#include "agegate/core/log_format.h"

namespace agegate {

spdlog::logger& log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_color_mt("agegate");
    l->set_pattern(kPlainLogPattern);
    return l;
  }();
  return *logger;
}

void set_log_level(const std::string& level) {
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw InvalidInput("unknown log level '" + level +
                       "' (expected trace, debug, info, warn, error or off)");
  }
  log().set_level(parsed);
}

}  // namespace agegate
