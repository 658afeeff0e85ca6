// Shares with Wilson intervals; see core/share.h.
#include "agegate/core/share.h"

#include <cmath>

#include "agegate/core/numeric.h"

namespace agegate {

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

double Share::rate() const { return n > 0 ? double(hits) / double(n) : std::nan(""); }
double Share::low() const { return wilson_interval(hits, n).first; }
double Share::high() const { return wilson_interval(hits, n).second; }
nlohmann::json Share::to_json() const {
  return {{"hits", hits}, {"n", n}, {"rate", number_or_null(rate())},
          {"ci95", {number_or_null(low()), number_or_null(high())}}};
}

}  // namespace agegate
