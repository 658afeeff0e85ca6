// Ages and age bands: the one vocabulary every component uses for "how old".
//
// Ages are whole completed years. kMinAge..kMaxAge is the range a label or a
// policy age may take (the network's own output range is ModelConfig::num_ages).
// An AgeBand is an inclusive range with a name; these band sets exist:
//   report_age_bands()       0-12, 13-17, 18-24, 25-39, 40-59, 60+  (MAE and coverage tables)
//   Policy::decision_bands() under 18, 18-24, 25+                    (the decision's groups; policy.h)
//   marketing_age_bands()    19-24, 25-34, 35-44, 45-54, 55-64, 65+ (the retail data's household bands)
//   parse_age_bands("18-29,30-49,50+")                              (any other, for purchase insights)
// Torch-free, thread-safe.
#pragma once
#include <string>
#include <vector>

namespace agegate {

inline constexpr int kMinAge = 0;
inline constexpr int kMaxAge = 120;
// "65+" is taken as 65-80 where a band's middle or extent is needed.
inline constexpr int kOpenEndedBandSpan = 15;

struct AgeBand {
  std::string name;  // "13-17", "under 18", "60+"
  int low = 0;       // inclusive
  int high = 0;      // inclusive
  bool contains(int age) const { return age >= low && age <= high; }
};

const std::vector<AgeBand>& report_age_bands();
const std::vector<AgeBand>& marketing_age_bands();
// One band from its name: "25-34" or "65+" (65..kMaxAge). InvalidInput naming `where`.
AgeBand parse_age_band(const std::string& name, const std::string& where);
// "marketing", "report" (or "estimator") or a comma list of band names, in
// increasing order and not overlapping. InvalidInput naming `where`.
std::vector<AgeBand> parse_age_bands(const std::string& spec, const std::string& where);
// The band of `bands` holding the middle age of `band` (the lower middle for
// an even span; "65+" counts as 65-80), or -1. Used to put a household's
// marketing band into another band set.
int find_band_of(const std::vector<AgeBand>& bands, const AgeBand& band);
// Index of the first band holding `age`, or -1.
int find_band(const std::vector<AgeBand>& bands, int age);

}  // namespace agegate
