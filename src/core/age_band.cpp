// The report's age bands and band lookup (see age_band.h).
#include "agegate/core/age_band.h"

#include <limits>

#include "agegate/core/csv.h"
#include "agegate/core/error.h"
#include "agegate/core/text.h"

namespace agegate {

const std::vector<AgeBand>& report_age_bands() {
  static const std::vector<AgeBand> bands = {{"0-12", 0, 12},   {"13-17", 13, 17}, {"18-24", 18, 24},
                                             {"25-39", 25, 39}, {"40-59", 40, 59}, {"60+", 60, std::numeric_limits<int>::max()}};
  return bands;
}

const std::vector<AgeBand>& marketing_age_bands() {
  static const std::vector<AgeBand> bands = {{"19-24", 19, 24}, {"25-34", 25, 34}, {"35-44", 35, 44},
                                             {"45-54", 45, 54}, {"55-64", 55, 64}, {"65+", 65, kMaxAge}};
  return bands;
}

AgeBand parse_age_band(const std::string& name, const std::string& where) {
  const auto bad = [&](const std::string& why) {
    return InvalidInput(where + ": age band '" + name + "' " + why + " (expected LOW-HIGH or LOW+, e.g. 25-34, 65+)");
  };
  if (!name.empty() && name.back() == '+') {
    const auto low = parse_integer(name.substr(0, name.size() - 1));
    if (!low || *low < kMinAge || *low > kMaxAge) throw bad("has no valid lower age");
    return {name, static_cast<int>(*low), kMaxAge};
  }
  const size_t dash = name.find('-');
  if (dash == std::string::npos || dash == 0) throw bad("is not a range");
  const auto low = parse_integer(name.substr(0, dash)), high = parse_integer(name.substr(dash + 1));
  if (!low || !high) throw bad("is not a range of whole ages");
  if (*low < kMinAge || *high > kMaxAge || *low > *high) throw bad("is out of order or outside 0-120");
  return {name, static_cast<int>(*low), static_cast<int>(*high)};
}

std::vector<AgeBand> parse_age_bands(const std::string& spec, const std::string& where) {
  if (spec == "marketing") return marketing_age_bands();
  if (spec == "report" || spec == "estimator") return report_age_bands();
  std::vector<AgeBand> out;
  for (const std::string& part : split(spec, ',')) {
    const std::string name = trim(part);
    if (name.empty()) throw InvalidInput(where + ": empty age band in '" + spec + "'");
    AgeBand b = parse_age_band(name, where);
    if (!out.empty() && b.low <= out.back().high) {
      throw InvalidInput(where + ": age band " + b.name + " overlaps or precedes " + out.back().name +
                         " (list bands youngest first, without overlap)");
    }
    out.push_back(b);
  }
  if (out.empty()) throw InvalidInput(where + ": no age bands in '" + spec + "'");
  return out;
}

int find_band_of(const std::vector<AgeBand>& bands, const AgeBand& band) {
  const int high = band.high >= kMaxAge ? band.low + kOpenEndedBandSpan : band.high;
  return find_band(bands, band.low + (high - band.low) / 2);
}

int find_band(const std::vector<AgeBand>& bands, int age) {
  for (size_t i = 0; i < bands.size(); ++i) {
    if (bands[i].contains(age)) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace agegate
