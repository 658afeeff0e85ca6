// Error and decision rates by group; see eval/groups.h.
#include "agegate/eval/groups.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

#include "agegate/core/csv.h"
#include "agegate/core/enum_names.h"
#include "agegate/core/error.h"
#include "agegate/core/format.h"
#include "agegate/core/numeric.h"
#include "agegate/core/share.h"

namespace agegate {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr size_t kMaxGroupValueBytes = 64;
constexpr double kFamilyAlpha = 0.05;

// Sums for a mean with its sample standard deviation.
struct Moments {
  int64_t n = 0;
  double sum = 0;
  double sum_sq = 0;
  void add(double x) {
    ++n;
    sum += x;
    sum_sq += x * x;
  }
  double mean() const { return n > 0 ? sum / static_cast<double>(n) : kNaN; }
  double variance() const {
    if (n < 2) return kNaN;
    const double m = mean();
    return std::max(0.0, (sum_sq - static_cast<double>(n) * m * m) / static_cast<double>(n - 1));
  }
};

// A cell plus what its gap interval needs.
struct MeanStats {
  MeanCell cell;
  double variance_of_mean = kNaN;
};

MeanStats mean_cell(const Moments& m, int64_t min_count) {
  MeanStats s;
  s.cell.count = m.n;
  s.cell.small = m.n < min_count;
  if (s.cell.small || m.n == 0) {
    s.cell.value = s.cell.low = s.cell.high = kNaN;
    return s;
  }
  s.variance_of_mean = m.variance() / static_cast<double>(m.n);
  const double half = kZ95 * std::sqrt(s.variance_of_mean);
  s.cell.value = m.mean();
  s.cell.low = s.cell.value - half;
  s.cell.high = s.cell.value + half;
  return s;
}

RateCell rate_cell(const Rate& r, int64_t min_count) { return {r, r.count < min_count}; }

// Age strata of the 25+ asked figure, standardised (lower bounds; the last is open).
constexpr int kAdultStrata[] = {25, 30, 35, 40, 50};
constexpr int kAdultStrataCount = sizeof(kAdultStrata) / sizeof(kAdultStrata[0]);

int adult_stratum(int age) {
  int s = -1;
  for (int i = 0; i < kAdultStrataCount; ++i) {
    if (age >= kAdultStrata[i]) s = i;
  }
  return s;
}

// Direct standardisation: sum_s w_s * mean_s with variance sum_s w_s^2 var_s / n_s.
// `by_stratum` holds the group's values per stratum; `binary` values are 0/1,
// whose variance is taken from (k+0.5)/(n+1) so that 0 of 12 is not certain.
MeanStats standardised(const std::vector<Moments>& by_stratum, const std::vector<double>& weights,
                       int64_t denominator, int64_t min_count, bool binary) {
  MeanStats s;
  s.cell.count = denominator;
  s.cell.small = denominator < min_count;
  s.cell.value = s.cell.low = s.cell.high = kNaN;
  if (s.cell.small) return s;
  double value = 0, variance = 0;
  for (size_t i = 0; i < by_stratum.size(); ++i) {
    if (weights[i] <= 0) continue;
    const Moments& m = by_stratum[i];
    if (m.n < 2) return s;  // no estimate for a stratum everyone else has
    const double n = static_cast<double>(m.n);
    double v = m.variance();
    if (binary) {
      const double p = (m.sum + 0.5) / (n + 1);
      v = p * (1 - p);
    }
    value += weights[i] * m.mean();
    variance += weights[i] * weights[i] * v / n;
  }
  const double half = kZ95 * std::sqrt(variance);
  s.cell.value = value;
  s.cell.low = value - half;
  s.cell.high = value + half;
  s.variance_of_mean = variance;
  return s;
}

std::vector<double> shares(const std::vector<int64_t>& counts) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  std::vector<double> w(counts.size(), 0.0);
  for (size_t i = 0; i < counts.size(); ++i) w[i] = total > 0 ? static_cast<double>(counts[i]) / total : 0.0;
  return w;
}

// Cells of one measure, for the gap: name, value, and what the interval needs.
struct GapInput {
  double value = 0;
  double variance_of_mean = 0;  // means
  int64_t hits = 0;             // rates
  int64_t count = 0;
  std::string group;
};

// Sorted by value, ties in name order, so the two ends are two groups.
void sort_by_value(std::vector<GapInput>& in) {
  std::stable_sort(in.begin(), in.end(), [](const GapInput& a, const GapInput& b) { return a.value < b.value; });
}

// The measured part of a gap: the two ends (best first when lower is
// better), their values, the pairs and the Bonferroni-adjusted z. Fills
// nothing but the measure when fewer than two cells are large enough.
struct GapEnds {
  GroupGap gap;
  GapInput best, worst;
  double z = 0;
};

GapEnds gap_ends(GroupMeasure measure, std::vector<GapInput> in, bool higher_is_better) {
  GapEnds e;
  e.gap.measure = measure;
  if (in.size() < 2) return e;
  sort_by_value(in);
  e.best = higher_is_better ? in.back() : in.front();
  e.worst = higher_is_better ? in.front() : in.back();
  const int k = static_cast<int>(in.size());
  GroupGap& g = e.gap;
  g.measured = true;
  g.pairs = k * (k - 1) / 2;
  g.best = e.best.group;
  g.worst = e.worst.group;
  g.best_value = e.best.value;
  g.worst_value = e.worst.value;
  g.gap = std::fabs(e.worst.value - e.best.value);
  e.z = normal_quantile(1 - kFamilyAlpha / (2.0 * g.pairs));
  return e;
}

// Welch: the gap of two means, its half-width from their variances.
GroupGap mean_gap(GroupMeasure measure, std::vector<GapInput> in, bool higher_is_better) {
  GapEnds e = gap_ends(measure, std::move(in), higher_is_better);
  GroupGap& g = e.gap;
  if (!g.measured) return g;
  const double half = e.z * std::sqrt(e.best.variance_of_mean + e.worst.variance_of_mean);
  g.low = g.gap - half;
  g.high = g.gap + half;
  g.beyond_noise = g.low > 0;
  return g;
}

// Newcombe's hybrid score interval (his method 10) for worst - best, from
// Wilson intervals at the adjusted level.
GroupGap rate_gap(GroupMeasure measure, std::vector<GapInput> in) {
  GapEnds e = gap_ends(measure, std::move(in), /*higher_is_better=*/false);
  GroupGap& g = e.gap;
  if (!g.measured) return g;
  const GapInput& best = e.best;
  const GapInput& worst = e.worst;
  const auto [lw, uw] = wilson_interval(worst.hits, worst.count, e.z);
  const auto [lb, ub] = wilson_interval(best.hits, best.count, e.z);
  g.low = g.gap - std::sqrt((worst.value - lw) * (worst.value - lw) + (ub - best.value) * (ub - best.value));
  g.high = g.gap + std::sqrt((uw - worst.value) * (uw - worst.value) + (best.value - lb) * (best.value - lb));
  g.beyond_noise = g.low > 0;
  return g;
}

nlohmann::json interval_or_null(double low, double high) {
  if (!std::isfinite(low) || !std::isfinite(high)) return nullptr;
  return {low, high};
}

std::string years(double v) { return format_number("%.2f", v); }
std::string points(double share) { return format_number("%.1f", share * 100); }

// "4.81 (4.45-5.17)" / "too few (12)".
std::string mean_text(const MeanCell& c, bool percent) {
  if (c.count == 0) return "none";
  if (c.small) return "too few (" + std::to_string(c.count) + ")";
  if (!std::isfinite(c.value)) return "n/a (an age stratum lacks photos)";
  if (percent) return format_percent(c.value) + " (" + points(c.low) + "-" + format_percent(c.high) + ")";
  return years(c.value) + " (" + years(c.low) + "-" + years(c.high) + ")";
}

std::string rate_text(const RateCell& c) {
  if (c.rate.count == 0) return "none";
  if (c.small) return "too few (" + std::to_string(c.rate.count) + ")";
  const auto [low, high] = c.rate.interval95();
  return format_percent(c.rate.rate()) + " (" + std::to_string(c.rate.hits) + "/" + std::to_string(c.rate.count) + "; " +
         points(low) + "-" + format_percent(high) + ")";
}

bool in_years(GroupMeasure m) { return m == GroupMeasure::kMae || m == GroupMeasure::kMaeAgeStandardised; }

// A gap in its measure's unit: "1.71 years" / "12.3 points".
std::string gap_amount(const GroupGap& g, double v) { return in_years(g.measure) ? years(v) : points(v); }
std::string gap_unit(const GroupGap& g) { return in_years(g.measure) ? "years" : "points"; }
std::string gap_value(const GroupGap& g, double v) { return in_years(g.measure) ? years(v) : format_percent(v); }

std::string gap_text(const GroupGap& g) {
  if (!g.measured) return "-";
  return gap_amount(g, g.gap) + " " + gap_unit(g) + " (" + gap_amount(g, g.low) + " to " + gap_amount(g, g.high) + ")" +
         (g.beyond_noise ? " beyond noise" : "");
}

// The denominator a small cell reports, by measure.
std::string denominator_name(GroupMeasure m, const Policy& policy) {
  switch (m) {
    case GroupMeasure::kMinors1317Pass: return "photos aged 13-17";
    case GroupMeasure::kUnderLegalPass: return "photos under " + std::to_string(policy.legal_age);
    case GroupMeasure::kAdults25PlusCheck:
    case GroupMeasure::kAdults25PlusCheckAgeStandardised: return "photos aged 25+";
    default: return "photos";
  }
}

std::vector<std::string> conclusions_of(const std::vector<ColumnFigures>& columns, const GroupOptions& o,
                                        const Policy& policy) {
  std::vector<std::string> beyond, within, unmeasured, small;
  for (const auto& c : columns) {
    for (const auto& g : c.gaps) {
      const std::string what = c.column + ", " + display_name(g.measure, policy);
      if (!g.measured) {
        unmeasured.push_back(what + ": fewer than two groups with " + std::to_string(o.min_count) + "+ " +
                             denominator_name(g.measure, policy) + "; not compared.");
        continue;
      }
      const std::string line =
          what + ": " + g.worst + " " + gap_value(g, g.worst_value) + " against " + g.best + " " +
          gap_value(g, g.best_value) + ", a gap of " + gap_amount(g, g.gap) + " " + gap_unit(g) + " (95% interval " +
          gap_amount(g, g.low) + " to " + gap_amount(g, g.high) +
          (g.pairs > 1 ? ", adjusted for " + std::to_string(g.pairs) + " pairs" : "") + ")";
      if (g.beyond_noise) beyond.push_back(line + ": its interval excludes 0, a real difference on these photos.");
      else within.push_back(line + ": its interval includes 0, not shown to differ on these photos.");
    }
    for (const auto& cell : c.groups) {
      std::vector<std::string> parts;
      if (cell.mae.small) parts.push_back("MAE (" + std::to_string(cell.count) + " photos)");
      for (GroupMeasure m : kGroupMeasures) {
        if (!is_rate(m)) continue;
        const RateCell& r = cell.rate(m);
        if (r.small && r.rate.count > 0) {
          parts.push_back(display_name(m, policy) + " (" + std::to_string(r.rate.count) + " " + denominator_name(m, policy) +
                          ")");
        }
      }
      if (parts.empty()) continue;
      std::string line = c.column + " " + cell.group + ": too few photos to measure ";
      for (size_t i = 0; i < parts.size(); ++i) line += (i ? ", " : "") + parts[i];
      small.push_back(line + ".");
    }
  }
  std::vector<std::string> out;
  if (beyond.empty()) out.push_back("No gap between groups has an interval that excludes 0.");
  for (auto* v : {&beyond, &within, &unmeasured, &small}) out.insert(out.end(), v->begin(), v->end());
  return out;
}

}  // namespace

const char* to_string(GroupMeasure m) {
  switch (m) {
    case GroupMeasure::kMae: return "mae";
    case GroupMeasure::kMaeAgeStandardised: return "mae_age_standardised";
    case GroupMeasure::kCoverage: return "coverage";
    case GroupMeasure::kMinors1317Pass: return "minors_13_17_pass";
    case GroupMeasure::kUnderLegalPass: return "under_legal_pass";
    case GroupMeasure::kAdults25PlusCheck: return "adults_25plus_check";
    case GroupMeasure::kAdults25PlusCheckAgeStandardised: return "adults_25plus_check_age_standardised";
  }
  throw InternalError("unknown group measure");
}

GroupMeasure parse_group_measure(const std::string& key) {
  return parse_enum_name(key, kGroupMeasures, "group measure");
}

std::string display_name(GroupMeasure m, const Policy& policy) {
  switch (m) {
    case GroupMeasure::kMae: return "MAE";
    case GroupMeasure::kMaeAgeStandardised: return "MAE at everyone's age mix";
    case GroupMeasure::kCoverage: return "interval coverage";
    case GroupMeasure::kMinors1317Pass: return "aged 13-17 passing";
    case GroupMeasure::kUnderLegalPass: return "under " + std::to_string(policy.legal_age) + " passing";
    case GroupMeasure::kAdults25PlusCheck: return "aged 25+ asked for ID";
    case GroupMeasure::kAdults25PlusCheckAgeStandardised: return "aged 25+ asked for ID at everyone's age mix";
  }
  throw InternalError("unknown group measure");
}

bool is_rate(GroupMeasure m) {
  return m == GroupMeasure::kMinors1317Pass || m == GroupMeasure::kUnderLegalPass || m == GroupMeasure::kAdults25PlusCheck;
}

const RateCell& GroupCell::rate(GroupMeasure m) const {
  switch (m) {
    case GroupMeasure::kMinors1317Pass: return minors_13_17_pass;
    case GroupMeasure::kUnderLegalPass: return under_legal_pass;
    case GroupMeasure::kAdults25PlusCheck: return adults_25plus_check;
    default: throw InternalError(std::string("group measure ") + to_string(m) + " is not a rate");
  }
}

std::filesystem::path default_groups_path(const std::filesystem::path& data_dir) { return data_dir / kGroupsFile; }

GroupTable read_groups_csv(const std::filesystem::path& path) {
  CsvReader csv = CsvReader::open(path, {"file_name"});
  GroupTable t;
  t.source = path;
  std::vector<size_t> index;
  for (size_t i = 0; i < csv.header().size(); ++i) {
    if (csv.header()[i] == "file_name") continue;
    if (csv.header()[i].empty()) {
      throw InvalidInput(path.string() + " line " + std::to_string(csv.header_line()) + ": column " +
                         std::to_string(i + 1) + " has no name");
    }
    t.columns.push_back(csv.header()[i]);
    index.push_back(i);
  }
  if (t.columns.empty()) {
    throw InvalidInput(path.string() + ": no group column beside file_name (expected e.g. file_name,sex,ethnicity)");
  }
  std::vector<std::set<std::string>> distinct(t.columns.size());
  const size_t name_col = csv.column("file_name");
  while (auto row = csv.next()) {
    const std::string& name = row->cells()[name_col];
    if (name.empty()) throw InvalidInput(row->where() + ": empty file_name");
    std::vector<std::string> values;
    for (size_t c = 0; c < index.size(); ++c) {
      const std::string& v = row->cells()[index[c]];
      if (v.size() > kMaxGroupValueBytes) {
        throw InvalidInput(row->where() + ": " + t.columns[c] + " value is longer than " +
                           std::to_string(kMaxGroupValueBytes) + " bytes");
      }
      if (std::any_of(v.begin(), v.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; })) {
        throw InvalidInput(row->where() + ": " + t.columns[c] + " value has a control character");
      }
      if (!v.empty()) distinct[c].insert(v);
      values.push_back(v);
    }
    if (!t.values.emplace(name, std::move(values)).second) {
      throw InvalidInput(row->where() + ": file_name " + name + " appears twice");
    }
  }
  if (t.values.empty()) throw InvalidInput(path.string() + ": no rows");
  for (size_t c = 0; c < t.columns.size(); ++c) {
    if (distinct[c].size() > static_cast<size_t>(kMaxGroupsPerColumn)) {
      throw InvalidInput(path.string() + ": column " + t.columns[c] + " has " + std::to_string(distinct[c].size()) +
                         " distinct values (at most " + std::to_string(kMaxGroupsPerColumn) +
                         "): not a grouping of photos");
    }
  }
  return t;
}

void GroupOptions::validate() const {
  if (min_count < 1) throw InvalidInput("min group count must be >= 1, got " + std::to_string(min_count));
}

nlohmann::json MeanCell::to_json() const {
  return {{"count", count},
          {"value", number_or_null(small ? kNaN : value)},
          {"ci95", small ? nlohmann::json(nullptr) : interval_or_null(low, high)},
          {"small", small}};
}

nlohmann::json RateCell::to_json() const {
  return {{"hits", rate.hits},
          {"count", rate.count},
          {"rate", small ? nlohmann::json(nullptr) : number_or_null(rate.rate())},
          {"ci95", small ? nlohmann::json(nullptr) : rate.interval_json()},
          {"small", small}};
}

nlohmann::json GroupGap::to_json() const {
  if (!measured) return {{"measured", false}};
  return {{"measured", true},         {"best", best},   {"worst", worst},
          {"best_value", best_value}, {"worst_value", worst_value}, {"gap", gap},
          {"ci95", {low, high}},      {"pairs", pairs}, {"beyond_noise", beyond_noise}};
}

namespace {

// The age mix of every photo evaluated: the standardisation weights.
struct AgeMix {
  std::vector<double> band_weights, adult_weights;
};

AgeMix age_mix(const std::vector<PredictionRow>& rows) {
  std::vector<int64_t> band_counts(report_age_bands().size(), 0), adult_counts(kAdultStrataCount, 0);
  for (const auto& r : rows) {
    ++band_counts[band_index(r.real_age)];
    if (adult_stratum(r.real_age) >= 0) ++adult_counts[adult_stratum(r.real_age)];
  }
  return {shares(band_counts), shares(adult_counts)};
}

using GapInputs = std::map<GroupMeasure, std::vector<GapInput>>;

// One group's cell, and its contribution to the column's gaps.
GroupCell group_cell(const std::string& group, const std::vector<PredictionRow>& in, const AgeMix& mix,
                     const Policy& policy, const GroupOptions& options, GapInputs& inputs) {
  const auto& bands = report_age_bands();
  GroupCell cell;
  cell.group = group;
  cell.count = static_cast<int64_t>(in.size());
  Moments abs_err, err, cov;
  std::vector<Moments> by_band(bands.size()), asked_by_stratum(kAdultStrataCount);
  for (const auto& r : in) {
    const double e = r.pred_age - r.real_age;
    abs_err.add(std::fabs(e));
    err.add(e);
    cov.add(coverage_of(r.low, r.high, r.real_age));
    by_band[band_index(r.real_age)].add(std::fabs(e));
    const int s = adult_stratum(r.real_age);
    if (s >= 0) asked_by_stratum[s].add(decide(r.pred_age, r.p_under_legal, policy) == Decision::kIdCheck);
  }
  const MeanStats mae = mean_cell(abs_err, options.min_count), coverage = mean_cell(cov, options.min_count);
  const MeanStats mae_std = standardised(by_band, mix.band_weights, cell.count, options.min_count, /*binary=*/false);
  cell.mae = mae.cell;
  cell.bias = mean_cell(err, options.min_count).cell;
  cell.mae_age_standardised = mae_std.cell;
  cell.coverage = coverage.cell;
  for (size_t b = 0; b < bands.size(); ++b) cell.mae_by_band[bands[b].name] = mean_cell(by_band[b], options.min_count).cell;
  const PolicyRates pr = policy_rates(in, policy);
  cell.minors_13_17_pass = rate_cell(pr.minors_13_17_pass, options.min_count);
  cell.under_legal_pass = rate_cell(pr.under_legal_pass, options.min_count);
  cell.adults_25plus_check = rate_cell(pr.adults_25plus_check, options.min_count);
  const MeanStats asked_std = standardised(asked_by_stratum, mix.adult_weights, pr.adults_25plus_check.count,
                                           options.min_count, /*binary=*/true);
  cell.adults_25plus_check_age_standardised = asked_std.cell;
  auto add_mean = [&inputs, &group](GroupMeasure key, const MeanStats& m) {
    if (!m.cell.small && std::isfinite(m.cell.value)) inputs[key].push_back({m.cell.value, m.variance_of_mean, 0, 0, group});
  };
  add_mean(GroupMeasure::kMae, mae);
  add_mean(GroupMeasure::kMaeAgeStandardised, mae_std);
  add_mean(GroupMeasure::kCoverage, coverage);
  add_mean(GroupMeasure::kAdults25PlusCheckAgeStandardised, asked_std);
  for (GroupMeasure m : kGroupMeasures) {
    if (!is_rate(m)) continue;
    const RateCell& r = cell.rate(m);
    if (!r.small) inputs[m].push_back({r.rate.rate(), 0, r.rate.hits, r.rate.count, group});
  }
  return cell;
}

// One column: its groups' cells, then the gap of every measure.
ColumnFigures column_figures(const std::string& column, int64_t unannotated,
                             const std::map<std::string, std::vector<PredictionRow>>& members, const AgeMix& mix,
                             const Policy& policy, const GroupOptions& options) {
  ColumnFigures col;
  col.column = column;
  col.unannotated = unannotated;
  GapInputs inputs;
  for (const auto& [group, in] : members) col.groups.push_back(group_cell(group, in, mix, policy, options, inputs));
  for (GroupMeasure m : kGroupMeasures) {
    col.gaps.push_back(is_rate(m) ? rate_gap(m, inputs[m])
                                  : mean_gap(m, inputs[m], /*higher_is_better=*/m == GroupMeasure::kCoverage));
  }
  return col;
}

}  // namespace

GroupFigures group_figures(const std::vector<PredictionRow>& rows, const GroupTable& table, const Policy& policy,
                           const GroupOptions& options) {
  options.validate();
  policy.validate();
  GroupFigures f;
  f.source = table.source;
  f.options = options;
  f.policy = policy;
  f.photos = static_cast<int64_t>(rows.size());
  // Per column, per group: the rows that belong to it.
  std::vector<std::map<std::string, std::vector<PredictionRow>>> members(table.columns.size());
  std::vector<int64_t> unannotated(table.columns.size(), 0);
  for (const auto& r : rows) {
    auto it = table.values.find(r.file_name);
    if (it != table.values.end()) ++f.matched;
    for (size_t c = 0; c < table.columns.size(); ++c) {
      if (it == table.values.end() || it->second[c].empty()) {
        ++unannotated[c];
        continue;
      }
      members[c][it->second[c]].push_back(r);
    }
  }
  if (f.matched == 0) {
    throw InvalidInput(table.source.string() + " names none of the " + std::to_string(rows.size()) +
                       " photos evaluated (is it the demographics file of this data?)");
  }
  const AgeMix mix = age_mix(rows);
  for (size_t c = 0; c < table.columns.size(); ++c) {
    f.columns.push_back(column_figures(table.columns[c], unannotated[c], members[c], mix, policy, options));
  }
  // Columns by name: the order JSON objects keep, so every view agrees.
  std::sort(f.columns.begin(), f.columns.end(), [](const auto& a, const auto& b) { return a.column < b.column; });
  f.conclusions = conclusions_of(f.columns, options, policy);
  return f;
}

nlohmann::json GroupFigures::to_json() const {
  nlohmann::json cols = nlohmann::json::object();
  for (const auto& c : columns) {
    nlohmann::json groups = nlohmann::json::object(), gaps = nlohmann::json::object();
    for (const auto& g : c.groups) {
      nlohmann::json bands = nlohmann::json::object();
      for (const auto& [name, cell] : g.mae_by_band) bands[name] = cell.to_json();
      groups[g.group] = {{"count", g.count},
                         {"mae", g.mae.to_json()},
                         {"bias", g.bias.to_json()},
                         {"mae_age_standardised", g.mae_age_standardised.to_json()},
                         {"coverage", g.coverage.to_json()},
                         {"mae_by_band", bands},
                         {to_string(GroupMeasure::kMinors1317Pass), g.minors_13_17_pass.to_json()},
                         {to_string(GroupMeasure::kUnderLegalPass), g.under_legal_pass.to_json()},
                         {to_string(GroupMeasure::kAdults25PlusCheck), g.adults_25plus_check.to_json()},
                         {"adults_25plus_check_age_standardised", g.adults_25plus_check_age_standardised.to_json()}};
    }
    for (const auto& g : c.gaps) gaps[to_string(g.measure)] = g.to_json();
    cols[c.column] = {{"unannotated", c.unannotated}, {"groups", groups}, {"gaps", gaps}};
  }
  return {{"source", source.string()}, {"min_count", options.min_count}, {"photos", photos},
          {"matched", matched},        {"policy", policy.to_json()},     {"columns", cols},
          {"conclusions", conclusions}};
}

std::vector<GroupTableText> GroupFigures::tables() const {
  std::vector<GroupTableText> out;
  const std::string level = format_percent(policy.interval_level, 0);
  const std::string legal = std::to_string(policy.legal_age);
  for (const auto& c : columns) {
    GroupTableText t;
    t.title = "By " + c.column + " (" + std::to_string(photos) + " photos" +
              (c.unannotated > 0 ? ", " + std::to_string(c.unannotated) + " without a value" : std::string()) +
              "; cells under " + std::to_string(options.min_count) + " photos are too few to measure)";
    t.header = {c.column, "photos", "MAE (95% CI)", "MAE, everyone's age mix", "bias", level + " coverage",
                "aged 13-17 passing", "under " + legal + " passing", "aged 25+ asked",
                "aged 25+ asked, everyone's age mix"};
    for (const auto& g : c.groups) {
      t.rows.push_back({g.group, std::to_string(g.count), mean_text(g.mae, false),
                        mean_text(g.mae_age_standardised, false),
                        g.bias.small ? "too few (" + std::to_string(g.bias.count) + ")" : format_number("%+.2f", g.bias.value),
                        mean_text(g.coverage, true), rate_text(g.minors_13_17_pass), rate_text(g.under_legal_pass),
                        rate_text(g.adults_25plus_check), mean_text(g.adults_25plus_check_age_standardised, true)});
    }
    // The gap row, under the columns it compares (bias has none).
    std::map<GroupMeasure, std::string> gap;
    for (const auto& g : c.gaps) gap[g.measure] = gap_text(g);
    using M = GroupMeasure;
    t.rows.push_back({"gap, worst - best", "", gap[M::kMae], gap[M::kMaeAgeStandardised], "", gap[M::kCoverage],
                      gap[M::kMinors1317Pass], gap[M::kUnderLegalPass], gap[M::kAdults25PlusCheck],
                      gap[M::kAdults25PlusCheckAgeStandardised]});
    out.push_back(std::move(t));

    GroupTableText b;
    b.title = "MAE by age band and " + c.column + " (years, photos)";
    b.header = {c.column};
    for (const auto& band : report_age_bands()) b.header.push_back(band.name);
    for (const auto& g : c.groups) {
      std::vector<std::string> row = {g.group};
      for (const auto& band : report_age_bands()) {
        const MeanCell& cell = g.mae_by_band.at(band.name);
        row.push_back(cell.count == 0 ? std::string("none")
                      : cell.small    ? "too few (" + std::to_string(cell.count) + ")"
                                      : years(cell.value) + " (" + std::to_string(cell.count) + ")");
      }
      b.rows.push_back(std::move(row));
    }
    out.push_back(std::move(b));
  }
  return out;
}

std::string GroupFigures::format_tables() const {
  std::ostringstream out;
  for (const auto& t : tables()) {
    out << t.title << ":\n\n|";
    for (const auto& h : t.header) out << " " << h << " |";
    out << "\n|";
    for (size_t i = 0; i < t.header.size(); ++i) out << " --- |";
    out << "\n";
    for (const auto& row : t.rows) {
      out << "|";
      for (const auto& cell : row) out << " " << cell << " |";
      out << "\n";
    }
    out << "\n";
  }
  return out.str();
}

namespace {

MeanCell mean_from_json(const nlohmann::json& j) {
  MeanCell c;
  c.count = j.at("count").get<int64_t>();
  c.small = j.at("small").get<bool>();
  c.value = j.at("value").is_number() ? j.at("value").get<double>() : kNaN;
  c.low = j.at("ci95").is_array() ? j.at("ci95").at(0).get<double>() : kNaN;
  c.high = j.at("ci95").is_array() ? j.at("ci95").at(1).get<double>() : kNaN;
  return c;
}

RateCell rate_from_json(const nlohmann::json& j) {
  RateCell c;
  c.rate.hits = j.at("hits").get<int64_t>();
  c.rate.count = j.at("count").get<int64_t>();
  c.small = j.at("small").get<bool>();
  return c;
}

}  // namespace

GroupFigures GroupFigures::from_json(const nlohmann::json& j) {
  GroupFigures f;
  try {
    f.source = j.at("source").get<std::string>();
    f.options.min_count = j.at("min_count").get<int64_t>();
    f.photos = j.at("photos").get<int64_t>();
    f.matched = j.at("matched").get<int64_t>();
    f.policy = Policy::from_json(j.at("policy"));
    f.conclusions = j.at("conclusions").get<std::vector<std::string>>();
    const nlohmann::json& columns = j.at("columns");
    for (const auto& [name, col] : columns.items()) {
      ColumnFigures c;
      c.column = name;
      c.unannotated = col.at("unannotated").get<int64_t>();
      for (const auto& [group, g] : col.at("groups").items()) {
        GroupCell cell;
        cell.group = group;
        cell.count = g.at("count").get<int64_t>();
        cell.mae = mean_from_json(g.at("mae"));
        cell.bias = mean_from_json(g.at("bias"));
        cell.mae_age_standardised = mean_from_json(g.at("mae_age_standardised"));
        cell.coverage = mean_from_json(g.at("coverage"));
        for (const auto& [band, b] : g.at("mae_by_band").items()) cell.mae_by_band[band] = mean_from_json(b);
        cell.minors_13_17_pass = rate_from_json(g.at(to_string(GroupMeasure::kMinors1317Pass)));
        cell.under_legal_pass = rate_from_json(g.at(to_string(GroupMeasure::kUnderLegalPass)));
        cell.adults_25plus_check = rate_from_json(g.at(to_string(GroupMeasure::kAdults25PlusCheck)));
        cell.adults_25plus_check_age_standardised = mean_from_json(g.at("adults_25plus_check_age_standardised"));
        c.groups.push_back(std::move(cell));
      }
      for (const auto& [key, g] : col.at("gaps").items()) {
        GroupGap gap;
        gap.measure = parse_group_measure(key);
        gap.measured = g.at("measured").get<bool>();
        if (gap.measured) {
          gap.best = g.at("best").get<std::string>();
          gap.worst = g.at("worst").get<std::string>();
          gap.best_value = g.at("best_value").get<double>();
          gap.worst_value = g.at("worst_value").get<double>();
          gap.gap = g.at("gap").get<double>();
          gap.low = g.at("ci95").at(0).get<double>();
          gap.high = g.at("ci95").at(1).get<double>();
          gap.pairs = g.at("pairs").get<int>();
          gap.beyond_noise = g.at("beyond_noise").get<bool>();
        }
        c.gaps.push_back(gap);
      }
      // In display order (kGroupMeasures), as group_figures makes them.
      std::sort(c.gaps.begin(), c.gaps.end(), [](const GroupGap& a, const GroupGap& b) { return a.measure < b.measure; });
      f.columns.push_back(std::move(c));
    }
  } catch (const nlohmann::json::exception& e) {
    throw InvalidInput(std::string("group figures: ") + e.what());
  }
  return f;
}

}  // namespace agegate
