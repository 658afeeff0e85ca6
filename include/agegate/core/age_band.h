// Ages and age bands: the one vocabulary every component uses for "how old".
//
// Ages are whole completed years. kMinAge..kMaxAge is the range a label or a
// policy age may take (the network's own output range is ModelConfig::num_ages).
// An AgeBand is an inclusive range with a name; two band sets exist:
//   report_age_bands()       0-12, 13-17, 18-24, 25-39, 40-59, 60+  (MAE and coverage tables)
//   Policy::decision_bands() under 18, 18-24, 25+                    (the decision's groups; policy.h)
// Torch-free, thread-safe.
#pragma once
#include <string>
#include <vector>

namespace agegate {

inline constexpr int kMinAge = 0;
inline constexpr int kMaxAge = 120;

struct AgeBand {
  std::string name;  // "13-17", "under 18", "60+"
  int low = 0;       // inclusive
  int high = 0;      // inclusive
  bool contains(int age) const { return age >= low && age <= high; }
};

const std::vector<AgeBand>& report_age_bands();
// Index of the first band holding `age`, or -1.
int find_band(const std::vector<AgeBand>& bands, int age);

}  // namespace agegate
