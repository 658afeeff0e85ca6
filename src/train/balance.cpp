// Group-balanced loss weights (see balance.h).
#include "agegate/train/balance.h"

#include <algorithm>
#include <map>

#include "agegate/core/age_band.h"
#include "agegate/core/error.h"

namespace agegate {

std::vector<double> group_balance_weights(const std::vector<LabelRow>& rows, const GroupTable& groups,
                                          const std::vector<std::string>& columns) {
  if (columns.empty()) throw InvalidInput("group balancing: name at least one column");
  std::vector<size_t> at;
  for (const auto& c : columns) {
    auto it = std::find(groups.columns.begin(), groups.columns.end(), c);
    if (it == groups.columns.end()) {
      std::string known;
      for (const auto& k : groups.columns) known += (known.empty() ? "" : ", ") + k;
      throw InvalidInput("group balancing: " + groups.source.string() + " has no column '" + c + "' (it has: " +
                         known + ")");
    }
    at.push_back(static_cast<size_t>(it - groups.columns.begin()));
  }
  const auto& bands = report_age_bands();
  // The cell of each row: its band and its joint group value ("" when any named column is not annotated).
  std::vector<int> band(rows.size());
  std::vector<std::string> group(rows.size());
  std::map<int, std::map<std::string, int64_t>> cells;  // band -> group -> photos
  for (size_t i = 0; i < rows.size(); ++i) {
    band[i] = find_band(bands, rows[i].age);
    auto it = groups.values.find(rows[i].file_name);
    if (it == groups.values.end()) continue;
    std::string key;
    for (size_t c : at) {
      const std::string& v = it->second[c];
      if (v.empty()) {
        key.clear();
        break;
      }
      key += (key.empty() ? "" : "|") + v;
    }
    group[i] = key;
    if (!key.empty()) ++cells[band[i]][key];
  }
  std::vector<double> w(rows.size(), 1.0);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (group[i].empty()) continue;
    const auto& in_band = cells[band[i]];
    int64_t n = 0;
    for (const auto& [g, count] : in_band) n += count;
    const double raw = double(n) / (double(in_band.size()) * double(in_band.at(group[i])));
    w[i] = std::clamp(raw, 1.0 / kMaxBalanceWeight, kMaxBalanceWeight);
  }
  double mean = 0;
  for (double x : w) mean += x;
  mean /= std::max<size_t>(1, w.size());
  for (double& x : w) x /= mean;
  return w;
}

}  // namespace agegate
