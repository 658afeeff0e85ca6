// Instants as milliseconds since the Unix epoch (UTC), and their ISO 8601
// text form, for checkout records and sales. Thread-safe.
//
//   int64_t ms = parse_iso8601("2026-11-21T14:03:07.250+01:00", "sale time");  // 13:03:07.250Z
//   format_iso8601(ms);   // "2026-11-21T13:03:07.250Z"
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace agegate {

inline constexpr int64_t kMsPerSecond = 1000;
inline constexpr int64_t kMsPerDay = int64_t(86400) * kMsPerSecond;

// "YYYY-MM-DDTHH:MM:SS[.fff]" followed by "Z" or "+HH:MM"/"-HH:MM" (a zone is
// required: a till's local time without one is ambiguous). A space may stand
// for the "T". InvalidInput naming `what` and the text otherwise.
int64_t parse_iso8601(std::string_view text, const std::string& what);
// UTC, milliseconds shown only when not zero.
std::string format_iso8601(int64_t ms);
// "YYYY-MM-DD" of the UTC day.
std::string format_date(int64_t ms);
int64_t now_ms();
// Start (UTC midnight) of the ISO week (Monday) that holds `ms`.
int64_t week_start_ms(int64_t ms);

}  // namespace agegate
