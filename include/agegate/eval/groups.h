// Error and decision rates by group (sex, ethnicity, or any column of a
// demographics file): what an age-estimation evaluation reports so that a
// retailer knows whether the camera asks one group for ID more often, or
// lets one group's teenagers through more often, before switching it on.
//
//   GroupTable t = read_groups_csv("faces/demographics.csv");   // file_name + any columns
//   GroupFigures g = group_figures(score(predictions, policy), t, policy);
//   g.to_json();               // evaluate --json "groups"
//   g.format_tables();         // markdown tables (the model card pastes them)
//   g.conclusions;             // sentences computed from the figures
//
// The annotations are only joined to labelled predictions by file name: they
// are never a model input, and nothing in serve reads or stores them.
//
// Statistics: MAE and coverage carry a normal 95% interval of their mean;
// the rates a Wilson 95% interval. A cell whose denominator is below
// min_count is "small": its count is shown, its value is not (null in JSON).
// For each column and measure, the gap is worst minus best group among the
// cells that are not small, with a Newcombe (rates) or Welch (means)
// interval at 95% Bonferroni-adjusted over the k(k-1)/2 pairs of that column,
// because the two extremes were picked after looking. A gap whose interval
// excludes 0 is "larger than its interval".
//
// Age mix: groups differ in age (in UTKFace the women are younger than the
// men), and both the error and the 25+ ID checks depend strongly on age. So
// MAE and "aged 25+ asked" are also given age-standardised: each group's
// per-stratum figures weighted by the strata shares of all photos evaluated
// (MAE over report_age_bands(); 25+ asked over 25-29, 30-34, 35-39, 40-49,
// 50+), i.e. what the group's figure would be with everyone's age mix. Null
// when one of its strata has fewer than two photos in that group. The raw
// figure is what a store with this data's mix would see; the standardised
// one is the part of the gap that age does not explain.
// Plain values; thread-safe. Errors: IoError (missing file), InvalidInput
// naming file, line and column.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "agegate/eval/metrics.h"
#include "agegate/policy/policy.h"

namespace agegate {

inline constexpr const char* kGroupsFile = "demographics.csv";
// More distinct values than this and a column is not a grouping (an age or an id).
inline constexpr int kMaxGroupsPerColumn = 50;
// Cells with fewer photos than this are shown as too small: at 30, a Wilson
// interval around 50% spans +-17 points and an MAE's about +-1.5 years.
inline constexpr int64_t kDefaultMinGroupCount = 30;

struct GroupTable {
  std::filesystem::path source;
  std::vector<std::string> columns;  // every column but file_name, in file order
  // file_name -> one value per column ("" = not annotated).
  std::unordered_map<std::string, std::vector<std::string>> values;
};

// Reads `path`: a header with file_name and at least one more column; one row
// per photo. InvalidInput naming the line for a wrong field count, an empty
// or duplicate file_name, a value with control characters or over 64 bytes,
// and naming the column when it has more than kMaxGroupsPerColumn values.
GroupTable read_groups_csv(const std::filesystem::path& path);
// data_dir/demographics.csv.
std::filesystem::path default_groups_path(const std::filesystem::path& data_dir);

// The measures compared across groups, in display order (kGroupMeasures).
enum class GroupMeasure {
  kMae,
  kMaeAgeStandardised,
  kCoverage,
  kMinors1317Pass,
  kUnderLegalPass,
  kAdults25PlusCheck,
  kAdults25PlusCheckAgeStandardised,
};
inline constexpr GroupMeasure kGroupMeasures[] = {
    GroupMeasure::kMae,           GroupMeasure::kMaeAgeStandardised, GroupMeasure::kCoverage,
    GroupMeasure::kMinors1317Pass, GroupMeasure::kUnderLegalPass,    GroupMeasure::kAdults25PlusCheck,
    GroupMeasure::kAdults25PlusCheckAgeStandardised};
// Its JSON key: mae, mae_age_standardised, coverage, minors_13_17_pass,
// under_legal_pass, adults_25plus_check, adults_25plus_check_age_standardised.
const char* to_string(GroupMeasure m);
// Back from the key; InvalidInput naming it and the accepted keys.
GroupMeasure parse_group_measure(const std::string& key);
// In the reader's words: "aged 25+ asked for ID", "under 18 passing".
std::string display_name(GroupMeasure m, const Policy& policy);
// A rate of decisions (Wilson interval, Newcombe gap) rather than a mean.
bool is_rate(GroupMeasure m);

struct GroupOptions {
  int64_t min_count = kDefaultMinGroupCount;
  void validate() const;  // min_count >= 1
};

// A mean with its 95% normal interval; NaN value when small or empty.
struct MeanCell {
  int64_t count = 0;
  double value = 0;
  double low = 0;
  double high = 0;
  bool small = false;
  nlohmann::json to_json() const;  // {"count","value","ci95","small"}
};

// A rate (hits of count) with its Wilson interval; value null when small.
struct RateCell {
  Rate rate;
  bool small = false;
  nlohmann::json to_json() const;  // {"hits","count","rate","ci95","small"}
};

struct GroupCell {
  std::string group;
  int64_t count = 0;
  MeanCell mae;
  MeanCell bias;                    // mean(estimate - real age): > 0 over-estimates
  MeanCell mae_age_standardised;
  MeanCell coverage;                // at policy.interval_level
  std::map<std::string, MeanCell> mae_by_band;  // report_age_bands() names
  RateCell minors_13_17_pass;
  RateCell under_legal_pass;
  RateCell adults_25plus_check;
  MeanCell adults_25plus_check_age_standardised;  // a share in [0,1]
  // The cell of a rate measure (is_rate); InternalError for a mean.
  const RateCell& rate(GroupMeasure m) const;
};

// Worst minus best group of one measure in one column.
struct GroupGap {
  GroupMeasure measure = GroupMeasure::kMae;
  bool measured = false; // false when fewer than two cells are large enough
  std::string best;
  std::string worst;
  double best_value = 0;
  double worst_value = 0;
  double gap = 0;        // worst - best (coverage: best - worst, so a gap is >= 0)
  double low = 0;        // adjusted 95% interval of the gap
  double high = 0;
  int pairs = 0;         // Bonferroni over this many pairs
  bool beyond_noise = false;  // interval excludes 0
  nlohmann::json to_json() const;
};

struct ColumnFigures {
  std::string column;
  int64_t unannotated = 0;          // evaluated photos with no value in this column
  std::vector<GroupCell> groups;    // sorted by name
  std::vector<GroupGap> gaps;       // one per measure, in the order above
};

// One table for a page or the model card: plain-text cells.
struct GroupTableText {
  std::string title;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

struct GroupFigures {
  std::filesystem::path source;
  GroupOptions options;
  Policy policy;
  int64_t photos = 0;     // predictions evaluated
  int64_t matched = 0;    // of them, rows in the groups file
  std::vector<ColumnFigures> columns;    // sorted by name
  std::vector<std::string> conclusions;  // gaps beyond noise, gaps within it, small cells

  // {"source","min_count","photos","matched","policy","columns":{column:{"unannotated",
  //  "groups":{group:{"count","mae","bias","mae_age_standardised","coverage",
  //  "mae_by_band":{band:cell},"minors_13_17_pass","under_legal_pass",
  //  "adults_25plus_check","adults_25plus_check_age_standardised"}},
  //  "gaps":{measure:gap}}},"conclusions":[...]}
  nlohmann::json to_json() const;
  // One markdown table per column (photos, MAE, bias, coverage, the three
  // rates, the age-standardised figures), a gap row under each, then MAE by
  // age band per column.
  std::string format_tables() const;
  // The same tables as cells (the HTML reports draw them).
  std::vector<GroupTableText> tables() const;
  // Back from to_json() (the reports read it from run.json or the evaluation
  // JSON); InvalidInput naming the missing or mistyped key.
  static GroupFigures from_json(const nlohmann::json& j);
};

// InvalidInput when no prediction has a row in the table (wrong file), or
// the options or policy are invalid.
GroupFigures group_figures(const std::vector<PredictionRow>& rows, const GroupTable& table, const Policy& policy,
                           const GroupOptions& options = {});

}  // namespace agegate
