// How log lines look: plain text for people, or one JSON object per line
// for log shippers (`--log-format json`), plus structured events whose
// fields a shipper can index. Neither format ever holds pixels or tokens:
// callers log sizes, timings, decisions and file names only.
//
//   set_log_format(LogFormat::kJson);
//   log_event(spdlog::level::info, "model_loaded", {{"model", id}}, "model loaded: " + id);
//   // {"time":"2026-12-03T19:44:47.123Z","level":"info","event":"model_loaded",
//   //  "message":"model loaded: ...","model":"..."}
//
// Plain lines are "[19:44:47.123 info] text". Under systemd, when stderr is
// the journal (JOURNAL_STREAM names it), plain lines carry no timestamp and
// start with the syslog priority ("<6>text"): journald stamps and ranks them.
// A line logged with log().info(...) is event "message" in JSON.
#pragma once
#include <nlohmann/json.hpp>
#include <spdlog/common.h>

#include <string>
#include <string_view>

namespace agegate {

enum class LogFormat { kPlain, kJson };

// spdlog pattern of plain lines off the journal.
inline constexpr const char* kPlainLogPattern = "%^[%H:%M:%S.%e %l]%$ %v";

LogFormat parse_log_format(const std::string& text);  // "plain" | "json"; InvalidInput otherwise
const char* to_string(LogFormat format);

// True when stderr is the stream JOURNAL_STREAM names (systemd's journal).
bool stderr_is_journal();

// Applies to every line from now on. `journal`: see above (plain only).
void set_log_format(LogFormat format, bool journal = stderr_is_journal());
LogFormat log_format();

// One event: `text` in the plain format; event, text and `fields` (a JSON
// object whose members become top-level keys) in the JSON format.
void log_event(spdlog::level::level_enum level, std::string_view event, const nlohmann::json& fields,
               const std::string& text);

}  // namespace agegate
