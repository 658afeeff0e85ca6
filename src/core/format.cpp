// Number and percentage formatting (see format.h).
#include "agegate/core/format.h"

#include <cmath>
#include <cstdio>

namespace agegate {

std::string format_number(const char* printf_format, double value) {
  if (!std::isfinite(value)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, printf_format, value);
  return buf;
}

std::string format_percent(double share, int decimals) {
  if (!std::isfinite(share)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%%", decimals, share * 100.0);
  return buf;
}

std::string format_percent_of(long long part, long long whole, int decimals) {
  return whole > 0 ? format_percent(static_cast<double>(part) / static_cast<double>(whole), decimals) : "-";
}

}  // namespace agegate
