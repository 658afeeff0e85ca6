// The report's age bands and band lookup (see age_band.h).
#include "agegate/core/age_band.h"

#include <limits>

namespace agegate {

const std::vector<AgeBand>& report_age_bands() {
  static const std::vector<AgeBand> bands = {{"0-12", 0, 12},   {"13-17", 13, 17}, {"18-24", 18, 24},
                                             {"25-39", 25, 39}, {"40-59", 40, 59}, {"60+", 60, std::numeric_limits<int>::max()}};
  return bands;
}

int find_band(const std::vector<AgeBand>& bands, int age) {
  for (size_t i = 0; i < bands.size(); ++i) {
    if (bands[i].contains(age)) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace agegate
