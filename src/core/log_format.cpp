// Plain, journal and JSON log lines (see log_format.h).
#include "agegate/core/log_format.h"

#include <spdlog/formatter.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "agegate/core/error.h"
#include "agegate/core/log.h"

namespace agegate {
namespace {

// The event being logged by log_event() on this thread; the formatter runs
// on the logging thread (the logger is synchronous), so it sees it.
struct PendingEvent {
  std::string_view event;
  const nlohmann::json* fields = nullptr;
};
thread_local PendingEvent t_event;

std::atomic<LogFormat> g_format{LogFormat::kPlain};

std::string utc_millis(spdlog::log_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

std::string_view level_name(spdlog::level::level_enum l) {
  const auto& sv = spdlog::level::to_string_view(l);
  return {sv.data(), sv.size()};
}

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::json line;
    line["time"] = utc_millis(msg.time);
    line["level"] = level_name(msg.level);
    line["event"] = t_event.event.empty() ? "message" : std::string(t_event.event);
    line["message"] = std::string(msg.payload.data(), msg.payload.size());
    if (t_event.fields && t_event.fields->is_object()) {
      for (const auto& [k, v] : t_event.fields->items()) {
        if (!line.contains(k)) line[k] = v;  // the four keys above stay what they are
      }
    }
    // Client text (a header echoed in an error) may not be UTF-8: replaced, never thrown.
    const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

// "<6>text": journald reads the priority and stamps the time itself.
class JournalFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    int priority = 6;  // LOG_INFO
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: priority = 7; break;
      case spdlog::level::warn: priority = 4; break;
      case spdlog::level::err: priority = 3; break;
      case spdlog::level::critical: priority = 2; break;
      default: break;
    }
    const std::string head = "<" + std::to_string(priority) + ">";
    dest.append(head.data(), head.data() + head.size());
    dest.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JournalFormatter>(); }
};

}  // namespace

LogFormat parse_log_format(const std::string& text) {
  if (text == "plain") return LogFormat::kPlain;
  if (text == "json") return LogFormat::kJson;
  throw InvalidInput("unknown log format '" + text + "' (expected plain or json)");
}

const char* to_string(LogFormat format) { return format == LogFormat::kJson ? "json" : "plain"; }

bool stderr_is_journal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (!env || !*env) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

void set_log_format(LogFormat format, bool journal) {
  g_format = format;
  if (format == LogFormat::kJson) {
    log().set_formatter(std::make_unique<JsonFormatter>());
  } else if (journal) {
    log().set_formatter(std::make_unique<JournalFormatter>());
  } else {
    log().set_pattern(kPlainLogPattern);
  }
}

LogFormat log_format() { return g_format.load(); }

void log_event(spdlog::level::level_enum level, std::string_view event, const nlohmann::json& fields,
               const std::string& text) {
  t_event = {event, &fields};
  try {
    log().log(level, "{}", text);
  } catch (...) {
    t_event = {};
    throw;
  }
  t_event = {};
}

}  // namespace agegate
