// Figures by group on hand-made sets whose errors and rates are known, the
// demographics reader's refusals, and the JSON's keys.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/numeric.h"
#include "agegate/eval/groups.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;

// A scored prediction: interval pred +- 5; P(under 18) as given. Under the
// default policy (18, 25, 1%) it is id_check when pred < 25 or p > 1%.
PredictionRow row(const std::string& name, int real, double pred, double p_under = 0.0) {
  return {name, real, pred, pred - 5, pred + 5, p_under};
}

struct Set {
  std::vector<PredictionRow> rows;
  GroupTable table;
  void add(const std::string& group, int real, double pred, double p_under = 0.0) {
    const std::string name = "p" + std::to_string(rows.size()) + ".jpg";
    rows.push_back(row(name, real, pred, p_under));
    table.values[name] = {group};
  }
};

Set with_column(const std::string& column) {
  Set s;
  s.table.source = "hand-made";
  s.table.columns = {column};
  return s;
}

const GroupCell& cell(const GroupFigures& f, const std::string& group) {
  for (const auto& c : f.columns.at(0).groups) {
    if (c.group == group) return c;
  }
  throw std::runtime_error("no group " + group);
}

const GroupGap& gap(const GroupFigures& f, const std::string& measure) {
  for (const auto& g : f.columns.at(0).gaps) {
    if (g.measure == parse_group_measure(measure)) return g;
  }
  throw std::runtime_error("no gap " + measure);
}

TEST(Groups, NormalQuantileMatchesTheTable) {
  EXPECT_NEAR(normal_quantile(0.975), kZ95, 1e-9);
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-12);
  EXPECT_NEAR(normal_quantile(1 - 0.05 / 20), 2.807034, 1e-5);  // Bonferroni over 10 pairs
  EXPECT_TRUE(std::isnan(normal_quantile(0.0)));
  EXPECT_TRUE(std::isnan(normal_quantile(1.0)));
}

// Group a: 40 adults aged 30, errors alternating 1 and 3 (MAE 2, sd ~1.01);
// group b: 40 aged 30, errors 5 and 7 (MAE 6). b is worse by 4 years, with a
// Welch interval 4 +- 1.96 * sqrt(2 * var/40).
TEST(Groups, MaeByGroupAndItsGapAreTheHandComputedOnes) {
  Set s = with_column("sex");
  for (int i = 0; i < 40; ++i) s.add("a", 30, 30 + (i % 2 ? 1 : 3));
  for (int i = 0; i < 40; ++i) s.add("b", 30, 30 + (i % 2 ? 5 : 7));
  const GroupFigures f = group_figures(s.rows, s.table, Policy{});
  EXPECT_EQ(f.matched, 80);
  EXPECT_DOUBLE_EQ(cell(f, "a").mae.value, 2.0);
  EXPECT_DOUBLE_EQ(cell(f, "b").mae.value, 6.0);
  EXPECT_DOUBLE_EQ(cell(f, "a").bias.value, 2.0);
  const double var = 40.0 / 39.0;  // sample variance of 20 ones and 20 threes
  EXPECT_NEAR(cell(f, "a").mae.high - cell(f, "a").mae.value, kZ95 * std::sqrt(var / 40), 1e-9);
  const GroupGap& g = gap(f, "mae");
  ASSERT_TRUE(g.measured);
  EXPECT_EQ(g.best, "a");
  EXPECT_EQ(g.worst, "b");
  EXPECT_DOUBLE_EQ(g.gap, 4.0);
  EXPECT_EQ(g.pairs, 1);
  EXPECT_NEAR(g.high - g.gap, kZ95 * std::sqrt(2 * var / 40), 1e-9);
  EXPECT_TRUE(g.beyond_noise);
  // Everyone is in one age band, so the age mix changes nothing.
  EXPECT_NEAR(cell(f, "b").mae_age_standardised.value, 6.0, 1e-12);
}

// Newcombe (1998), method 10, his example (e): 56/70 against 48/80 gives a
// difference of 0.2 with interval 0.0524 to 0.3339.
TEST(Groups, RateGapUsesNewcombesHybridScoreInterval) {
  Set s = with_column("group");
  for (int i = 0; i < 70; ++i) s.add("x", 30, i < 56 ? 20 : 40);  // 56 of 70 asked (estimate 20 < 25)
  for (int i = 0; i < 80; ++i) s.add("y", 30, i < 48 ? 20 : 40);  // 48 of 80 asked
  const GroupFigures f = group_figures(s.rows, s.table, Policy{});
  EXPECT_EQ(cell(f, "x").adults_25plus_check.rate.hits, 56);
  EXPECT_EQ(cell(f, "x").adults_25plus_check.rate.count, 70);
  const GroupGap& g = gap(f, "adults_25plus_check");
  ASSERT_TRUE(g.measured);
  EXPECT_EQ(g.worst, "x");
  EXPECT_EQ(g.best, "y");
  EXPECT_NEAR(g.gap, 0.2, 1e-12);
  EXPECT_NEAR(g.low, 0.0524, 5e-4);
  EXPECT_NEAR(g.high, 0.3339, 5e-4);
  EXPECT_TRUE(g.beyond_noise);
}

// The decision rates of the minors come from the policy as at the till.
TEST(Groups, MinorRatesFollowThePolicyDecision) {
  Set s = with_column("sex");
  // 40 aged 15 in each group; in "f" 4 pass (estimate 30, P(under 18) 0.5% <= 1%),
  // in "m" 4 look 30 but P(under 18) is 2%, so nobody passes.
  for (int i = 0; i < 40; ++i) s.add("f", 15, i < 4 ? 30 : 15, i < 4 ? 0.005 : 0.9);
  for (int i = 0; i < 40; ++i) s.add("m", 15, i < 4 ? 30 : 15, i < 4 ? 0.02 : 0.9);
  const GroupFigures f = group_figures(s.rows, s.table, Policy{});
  EXPECT_EQ(cell(f, "f").minors_13_17_pass.rate.hits, 4);
  EXPECT_EQ(cell(f, "f").under_legal_pass.rate.hits, 4);
  EXPECT_EQ(cell(f, "m").minors_13_17_pass.rate.hits, 0);
  EXPECT_EQ(cell(f, "m").minors_13_17_pass.rate.count, 40);
  const auto [low, high] = wilson_interval(4, 40);
  const nlohmann::json j = cell(f, "f").minors_13_17_pass.to_json();
  EXPECT_DOUBLE_EQ(j["rate"].get<double>(), 0.1);
  EXPECT_DOUBLE_EQ(j["ci95"][0].get<double>(), low);
  EXPECT_DOUBLE_EQ(j["ci95"][1].get<double>(), high);
  EXPECT_EQ(gap(f, "minors_13_17_pass").worst, "f");
  // Nobody is 25+: that rate has no photos and its gap is not measured.
  EXPECT_EQ(cell(f, "f").adults_25plus_check.rate.count, 0);
  EXPECT_FALSE(gap(f, "adults_25plus_check").measured);
}

// Two groups with the same per-age rates but different age mixes: the raw
// 25+ asked rates differ (young adults are asked more), the standardised
// ones do not.
TEST(Groups, AgeStandardisingRemovesAGapThatAgeAloneExplains) {
  Set s = with_column("mix");
  // The asked get estimate 20, the rest age + 2 (26) or + 8 (55): the same per age in both groups.
  auto add_age = [&s](const std::string& group, int age, int count, int asked) {
    for (int i = 0; i < count; ++i) s.add(group, age, i < asked ? 20.0 : age + (age > 40 ? 8.0 : 2.0));
  };
  add_age("young", 26, 40, 32);  // 80% asked
  add_age("young", 55, 10, 1);   // 10% asked
  add_age("old", 26, 10, 8);     // 80% asked
  add_age("old", 55, 40, 4);     // 10% asked
  const GroupFigures f = group_figures(s.rows, s.table, Policy{});
  // Raw: 33/50 against 12/50, a gap that is real on these photos...
  EXPECT_EQ(cell(f, "young").adults_25plus_check.rate.hits, 33);
  EXPECT_EQ(cell(f, "old").adults_25plus_check.rate.hits, 12);
  EXPECT_TRUE(gap(f, "adults_25plus_check").beyond_noise);
  // ...and all of it is age: everyone's mix is half 26, half 55, so both
  // groups come to 0.5 * 0.8 + 0.5 * 0.1.
  EXPECT_NEAR(cell(f, "young").adults_25plus_check_age_standardised.value, 0.45, 1e-12);
  EXPECT_NEAR(cell(f, "old").adults_25plus_check_age_standardised.value, 0.45, 1e-12);
  EXPECT_NEAR(gap(f, "adults_25plus_check_age_standardised").gap, 0.0, 1e-12);
  EXPECT_FALSE(gap(f, "adults_25plus_check_age_standardised").beyond_noise);
  // The MAE likewise: per band the groups err alike.
  const double young_raw = cell(f, "young").mae.value, old_raw = cell(f, "old").mae.value;
  EXPECT_GT(std::fabs(young_raw - old_raw), 1.0);
  EXPECT_NEAR(cell(f, "young").mae_age_standardised.value, cell(f, "old").mae_age_standardised.value, 1e-12);
}

TEST(Groups, SmallCellsShowTheirCountAndNoValue) {
  Set s = with_column("ethnicity");
  for (int i = 0; i < 40; ++i) s.add("big", 30, 33);
  for (int i = 0; i < 5; ++i) s.add("tiny", 30, 20);
  GroupOptions o;
  o.min_count = 30;
  const GroupFigures f = group_figures(s.rows, s.table, Policy{}, o);
  const GroupCell& tiny = cell(f, "tiny");
  EXPECT_TRUE(tiny.mae.small);
  EXPECT_TRUE(tiny.adults_25plus_check.small);
  const nlohmann::json j = f.to_json()["columns"]["ethnicity"]["groups"]["tiny"];
  EXPECT_EQ(j["count"], 5);
  EXPECT_TRUE(j["mae"]["value"].is_null());
  EXPECT_TRUE(j["mae"]["small"].get<bool>());
  EXPECT_TRUE(j["adults_25plus_check"]["rate"].is_null());
  EXPECT_TRUE(j["adults_25plus_check"]["ci95"].is_null());
  EXPECT_EQ(j["adults_25plus_check"]["count"], 5);  // the count is still shown
  // One large group left: nothing to compare.
  EXPECT_FALSE(gap(f, "mae").measured);
  const std::string tables = f.format_tables();
  EXPECT_NE(tables.find("| tiny | 5 | too few (5) |"), std::string::npos) << tables;
  bool named = false;
  for (const auto& c : f.conclusions) named = named || c.find("ethnicity tiny: too few photos") != std::string::npos;
  EXPECT_TRUE(named);
  // A lower threshold measures it.
  o.min_count = 5;
  EXPECT_FALSE(cell(group_figures(s.rows, s.table, Policy{}, o), "tiny").mae.small);
  o.min_count = 0;
  EXPECT_THROW(group_figures(s.rows, s.table, Policy{}, o), InvalidInput);
}

TEST(Groups, PhotosWithoutAValueAreCountedApart) {
  Set s = with_column("sex");
  for (int i = 0; i < 3; ++i) s.add("f", 30, 31);
  s.add("", 30, 31);                      // in the file, no value
  s.rows.push_back(row("absent.jpg", 30, 31));  // not in the file
  const GroupFigures f = group_figures(s.rows, s.table, Policy{});
  EXPECT_EQ(f.photos, 5);
  EXPECT_EQ(f.matched, 4);
  EXPECT_EQ(f.columns[0].unannotated, 2);
  EXPECT_EQ(f.columns[0].groups.size(), 1u);
  // A file that names none of the photos is the wrong file.
  GroupTable other = s.table;
  other.values = {{"elsewhere.jpg", {"f"}}};
  EXPECT_THROW(group_figures(s.rows, other, Policy{}), InvalidInput);
}

TEST(Groups, JsonKeysAreStableAndReadBack) {
  Set s = with_column("sex");
  for (int i = 0; i < 40; ++i) s.add("f", 20 + i, 22 + i);
  for (int i = 0; i < 40; ++i) s.add("m", 10 + i, 9 + i, i < 8 ? 0.5 : 0.0);
  const GroupFigures f = group_figures(s.rows, s.table, Policy{});
  const nlohmann::json j = f.to_json();
  auto keys = [](const nlohmann::json& o) {
    std::set<std::string> k;
    for (const auto& [key, v] : o.items()) k.insert(key);
    return k;
  };
  EXPECT_EQ(keys(j), (std::set<std::string>{"source", "min_count", "photos", "matched", "policy", "columns",
                                            "conclusions"}));
  EXPECT_EQ(keys(j["columns"]["sex"]), (std::set<std::string>{"unannotated", "groups", "gaps"}));
  EXPECT_EQ(keys(j["columns"]["sex"]["groups"]["f"]),
            (std::set<std::string>{"count", "mae", "bias", "mae_age_standardised", "coverage", "mae_by_band",
                                   "minors_13_17_pass", "under_legal_pass", "adults_25plus_check",
                                   "adults_25plus_check_age_standardised"}));
  EXPECT_EQ(keys(j["columns"]["sex"]["groups"]["f"]["mae"]), (std::set<std::string>{"count", "value", "ci95", "small"}));
  EXPECT_EQ(keys(j["columns"]["sex"]["groups"]["f"]["minors_13_17_pass"]),
            (std::set<std::string>{"hits", "count", "rate", "ci95", "small"}));
  std::set<std::string> measures;
  for (GroupMeasure m : kGroupMeasures) measures.insert(to_string(m));
  EXPECT_EQ(keys(j["columns"]["sex"]["gaps"]), (std::set<std::string>{"mae", "mae_age_standardised", "coverage",
                                                                       "minors_13_17_pass", "under_legal_pass",
                                                                       "adults_25plus_check",
                                                                       "adults_25plus_check_age_standardised"}));
  EXPECT_EQ(keys(j["columns"]["sex"]["gaps"]), measures);
  // Each key parses back to its measure; any other is refused with the accepted keys.
  for (GroupMeasure m : kGroupMeasures) EXPECT_EQ(parse_group_measure(to_string(m)), m);
  try {
    parse_group_measure("minors_passing");
    ADD_FAILURE() << "accepted an unknown measure";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("'minors_passing': not one of mae, mae_age_standardised"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(keys(j["columns"]["sex"]["groups"]["f"]["mae_by_band"]),
            (std::set<std::string>{"0-12", "13-17", "18-24", "25-39", "40-59", "60+"}));
  // The reports rebuild the same tables from the JSON.
  EXPECT_EQ(GroupFigures::from_json(j).format_tables(), f.format_tables());
  nlohmann::json broken = j;
  broken["columns"]["sex"]["groups"]["f"].erase("mae");
  EXPECT_THROW(GroupFigures::from_json(broken), InvalidInput);
  nlohmann::json renamed = j;
  renamed["columns"]["sex"]["gaps"]["teen_pass"] = renamed["columns"]["sex"]["gaps"]["mae"];
  EXPECT_THROW(GroupFigures::from_json(renamed), InvalidInput);
}

fs::path write_csv(const std::string& name, const std::string& text) {
  const fs::path p = testing::scratch_dir("groups") / name;
  write_file_atomic(p, text);
  return p;
}

std::string error_of(const fs::path& p) {
  try {
    read_groups_csv(p);
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

TEST(Groups, ReaderTakesAnyColumnsAndEmptyValues) {
  const GroupTable t =
      read_groups_csv(write_csv("ok.csv", "file_name,sex,camera\na.jpg,female,lane 1\nb.jpg,,lane 2\n"));
  EXPECT_EQ(t.columns, (std::vector<std::string>{"sex", "camera"}));
  EXPECT_EQ(t.values.at("a.jpg"), (std::vector<std::string>{"female", "lane 1"}));
  EXPECT_EQ(t.values.at("b.jpg")[0], "");
}

TEST(Groups, ReaderNamesTheBadRow) {
  EXPECT_THROW(read_groups_csv(testing::scratch_dir("groups") / "missing.csv"), IoError);
  EXPECT_NE(error_of(write_csv("count.csv", "file_name,sex\na.jpg,female\nb.jpg,male,extra\n")).find("line 3"),
            std::string::npos);
  EXPECT_NE(error_of(write_csv("dup.csv", "file_name,sex\na.jpg,female\na.jpg,male\n"))
                .find("line 3: file_name a.jpg appears twice"),
            std::string::npos);
  EXPECT_NE(error_of(write_csv("empty.csv", "file_name,sex\n,female\n")).find("line 2: empty file_name"),
            std::string::npos);
  EXPECT_NE(error_of(write_csv("nocol.csv", "file,sex\na.jpg,female\n")).find("file_name"), std::string::npos);
  EXPECT_NE(error_of(write_csv("only.csv", "file_name\na.jpg\n")).find("no group column"), std::string::npos);
  EXPECT_NE(error_of(write_csv("ctl.csv", "file_name,sex\n\"a.jpg\",\"fe\tmale\"\n"))
                .find("line 2: sex value has a control"),
            std::string::npos);
  std::string many = "file_name,real_age\n";
  for (int i = 0; i <= kMaxGroupsPerColumn; ++i) many += std::to_string(i) + ".jpg," + std::to_string(i) + "\n";
  EXPECT_NE(error_of(write_csv("many.csv", many)).find("column real_age has 51 distinct values"), std::string::npos);
}

}  // namespace
}  // namespace agegate
