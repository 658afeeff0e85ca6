// The project's logger: everything goes to stderr (stdout is for command results).
// Log lines carry sizes, timings and decisions, never image data.
#pragma once
#include <spdlog/spdlog.h>

#include <string>

namespace agegate {

// Shared logger writing to stderr. Thread-safe.
spdlog::logger& log();

// "trace", "debug", "info", "warn", "error", "off". Throws InvalidInput otherwise.
void set_log_level(const std::string& level);

}  // namespace agegate
