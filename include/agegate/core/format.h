// Number formatting for tables, reports and messages: one helper for
// printf-style numbers and one for shares shown as percentages, both
// printing "-" for a missing (NaN or infinite) value. Thread-safe.
//
//   format_number("%.2f", 4.871)  -> "4.87"
//   format_percent(0.0099)        -> "1.0%"
//   format_percent(0.0099, 2)     -> "0.99%"
#pragma once
#include <string>

namespace agegate {

std::string format_number(const char* printf_format, double value);
std::string format_percent(double share, int decimals = 1);
// part / whole as a percentage; "-" when whole is 0.
std::string format_percent_of(long long part, long long whole, int decimals = 1);

}  // namespace agegate
