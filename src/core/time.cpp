// ISO 8601 instants; see core/time.h.
#include "agegate/core/time.h"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "agegate/core/error.h"

namespace agegate {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// days_from_civil), so no time zone database or TZ variable is involved.
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int64_t y, int64_t m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at text[*pos]; false when they are not there.
bool digits(std::string_view text, size_t* pos, int n, int64_t* out) {
  if (*pos + n > text.size()) return false;
  int64_t v = 0;
  for (int i = 0; i < n; ++i) {
    const char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool expect(std::string_view text, size_t* pos, char c) {
  if (*pos >= text.size() || text[*pos] != c) return false;
  ++*pos;
  return true;
}

}  // namespace

int64_t parse_iso8601(std::string_view text, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return InvalidInput(what + ": '" + std::string(text.substr(0, 64)) + "' is not an ISO 8601 time (" + why +
                        "; e.g. 2026-11-21T14:03:07Z)");
  };
  size_t p = 0;
  int64_t y, mo, d, h, mi, s;
  if (!digits(text, &p, 4, &y) || !expect(text, &p, '-') || !digits(text, &p, 2, &mo) || !expect(text, &p, '-') ||
      !digits(text, &p, 2, &d)) {
    throw bad("date must be YYYY-MM-DD");
  }
  if (!(expect(text, &p, 'T') || expect(text, &p, ' ')) || !digits(text, &p, 2, &h) || !expect(text, &p, ':') ||
      !digits(text, &p, 2, &mi) || !expect(text, &p, ':') || !digits(text, &p, 2, &s)) {
    throw bad("time must be THH:MM:SS");
  }
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59) {
    throw bad("a field is out of range");
  }
  int64_t frac_ms = 0;
  if (p < text.size() && text[p] == '.') {
    ++p;
    int n = 0;
    int64_t scale = 100;
    while (p < text.size() && text[p] >= '0' && text[p] <= '9') {
      frac_ms += (text[p] - '0') * scale;
      scale /= 10;
      ++p;
      ++n;
    }
    if (n == 0) throw bad("a '.' must be followed by digits");
  }
  int64_t offset_min = 0;
  if (expect(text, &p, 'Z')) {
  } else if (p < text.size() && (text[p] == '+' || text[p] == '-')) {
    const int sign = text[p] == '-' ? -1 : 1;
    ++p;
    int64_t oh, om;
    if (!digits(text, &p, 2, &oh) || !expect(text, &p, ':') || !digits(text, &p, 2, &om) || oh > 23 || om > 59) {
      throw bad("zone offset must be +HH:MM");
    }
    offset_min = sign * (oh * 60 + om);
  } else {
    throw bad("a zone (Z or +HH:MM) is required");
  }
  if (p != text.size()) throw bad("trailing text");
  const int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset_min * 60;
  return secs * kMsPerSecond + frac_ms;
}

std::string format_iso8601(int64_t ms) {
  const int64_t secs = ms >= 0 ? ms / kMsPerSecond : -((-ms + kMsPerSecond - 1) / kMsPerSecond);
  const int64_t rest = ms - secs * kMsPerSecond;
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf);
  if (rest != 0) {
    std::snprintf(buf, sizeof buf, ".%03lld", static_cast<long long>(rest));
    out += buf;
  }
  return out + "Z";
}

std::string format_date(int64_t ms) { return format_iso8601(ms).substr(0, 10); }

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t week_start_ms(int64_t ms) {
  const int64_t day = (ms >= 0 ? ms / kMsPerDay : -((-ms + kMsPerDay - 1) / kMsPerDay));
  const int64_t weekday = ((day % 7) + 7 + 3) % 7;  // 1970-01-01 was a Thursday: Monday = 0
  return (day - weekday) * kMsPerDay;
}

}  // namespace agegate
