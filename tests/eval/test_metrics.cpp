// Metrics on a small hand-made set whose answers are worked out in comments.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "agegate/core/error.h"
#include "agegate/eval/metrics.h"
#include "test_support.h"

namespace agegate {
namespace {

constexpr int kAges = 101;

using testing::point_mass;

// Point-mass predictions: estimate = the mass's age, P(under 18) = 0 or 1,
// 90% interval = [m + 0.05, m + 0.95]. Default policy (18, 25, 1%).
//   file  real  pred  err  decision
//   a     10    12    +2   id_check (12 < 25)
//   b     15    26    +11  no_check (a minor passes)
//   c     16    16    0    id_check
//   d     17    20    +3   id_check
//   e     30    24    -6   id_check (an adult is asked)
//   f     30    35    +5   no_check
//   g     45    40    -5   no_check
//   h     70    60    -10  no_check
std::vector<Prediction> hand_set() {
  return {{"a.jpg", 10, point_mass(12)}, {"b.jpg", 15, point_mass(26)}, {"c.jpg", 16, point_mass(16)},
          {"d.jpg", 17, point_mass(20)}, {"e.jpg", 30, point_mass(24)}, {"f.jpg", 30, point_mass(35)},
          {"g.jpg", 45, point_mass(40)}, {"h.jpg", 70, point_mass(60)}};
}

TEST(Metrics, CoverageOfCountsTheOverlappedShareOfTheLabelledYear) {
  EXPECT_DOUBLE_EQ(coverage_of(20.5, 29.5, 20), 0.5);
  EXPECT_DOUBLE_EQ(coverage_of(20.5, 29.5, 25), 1.0);
  EXPECT_DOUBLE_EQ(coverage_of(20.5, 29.5, 29), 0.5);
  EXPECT_DOUBLE_EQ(coverage_of(20.5, 29.5, 30), 0.0);
  EXPECT_DOUBLE_EQ(coverage_of(20.5, 29.5, 19), 0.0);
  EXPECT_NEAR(coverage_of(17.05, 17.95, 17), 0.9, 1e-12);
}

TEST(Metrics, BandsCoverEveryAge) {
  EXPECT_EQ(report_age_bands().size(), 6u);
  EXPECT_EQ(report_age_bands()[band_index(12)].name, "0-12");
  EXPECT_EQ(report_age_bands()[band_index(13)].name, "13-17");
  EXPECT_EQ(report_age_bands()[band_index(17)].name, "13-17");
  EXPECT_EQ(report_age_bands()[band_index(18)].name, "18-24");
  EXPECT_EQ(report_age_bands()[band_index(25)].name, "25-39");
  EXPECT_EQ(report_age_bands()[band_index(59)].name, "40-59");
  EXPECT_EQ(report_age_bands()[band_index(100)].name, "60+");
  EXPECT_THROW(band_index(-1), InvalidInput);
}

TEST(Metrics, HandSetSummary) {
  EvalSummary s = summarise(hand_set(), Policy{});
  EXPECT_EQ(s.count, 8);
  // |err| sum: 2+11+0+3+6+5+5+10 = 42 -> 42/8.
  EXPECT_DOUBLE_EQ(s.mae, 5.25);
  // Signed: (2+11+0+3+5) - (6+5+10) = 0.
  EXPECT_NEAR(s.bias, 0.0, 1e-12);
  // |err| <= 5: a, c, d, f, g -> 5/8.
  EXPECT_DOUBLE_EQ(s.within5, 0.625);
  // Only c's interval [16.05, 16.95] overlaps its year [16, 17), by 0.9.
  EXPECT_NEAR(s.coverage, 0.9 / 8, 1e-12);
  EXPECT_NEAR(s.mean_interval_width, 0.9, 1e-12);

  ASSERT_EQ(s.bands.size(), 6u);
  EXPECT_EQ(s.bands[0].count, 1);
  EXPECT_DOUBLE_EQ(s.bands[0].mae, 2.0);
  EXPECT_EQ(s.bands[1].count, 3);
  EXPECT_NEAR(s.bands[1].mae, 14.0 / 3.0, 1e-12);
  EXPECT_NEAR(s.bands[1].coverage, 0.3, 1e-12);
  EXPECT_EQ(s.bands[2].count, 0);
  EXPECT_TRUE(std::isnan(s.bands[2].mae));
  EXPECT_EQ(s.bands[3].count, 2);
  EXPECT_DOUBLE_EQ(s.bands[3].mae, 5.5);
  EXPECT_DOUBLE_EQ(s.bands[4].mae, 5.0);
  EXPECT_DOUBLE_EQ(s.bands[5].mae, 10.0);

  // 13-17: b, c, d; b passes. Under 18: a, b, c, d; b passes. 25+: e, f, g, h; e is asked.
  EXPECT_EQ(s.rates.minors_13_17_pass.hits, 1);
  EXPECT_EQ(s.rates.minors_13_17_pass.count, 3);
  EXPECT_EQ(s.rates.under_legal_pass.hits, 1);
  EXPECT_EQ(s.rates.under_legal_pass.count, 4);
  EXPECT_EQ(s.rates.adults_25plus_check.hits, 1);
  EXPECT_EQ(s.rates.adults_25plus_check.count, 4);

  nlohmann::json j = s.to_json();
  for (const char* key : {"mae", "count", "mae_by_band", "within5", "minors_13_17_pass_rate", "under_legal_pass_rate",
                          "adults_25plus_check_rate", "coverage", "coverage_by_band", "policy"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_DOUBLE_EQ(j["minors_13_17_pass_rate"].get<double>(), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(j["under_legal_pass_rate"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(j["adults_25plus_check_rate"].get<double>(), 0.25);
  EXPECT_TRUE(j["mae_by_band"]["18-24"]["mae"].is_null());
  EXPECT_EQ(j["mae_by_band"]["13-17"]["count"].get<int>(), 3);
  EXPECT_EQ(j["policy"]["challenge_age"].get<int>(), 25);

  std::string table = format_summary_table(s);
  EXPECT_NE(table.find("legal age 18, challenge age 25"), std::string::npos) << table;
  // Every rate with its count and 95% Wilson interval (1 of 3: 6.1%-79.2%).
  EXPECT_NE(table.find("33.3% (1/3, 95% CI 6.1-79.2%)"), std::string::npos) << table;
  ASSERT_TRUE(j["minors_13_17_pass_ci95"].is_array());
  EXPECT_NEAR(j["minors_13_17_pass_ci95"][0].get<double>(), 0.0615, 1e-4);
  EXPECT_NEAR(j["minors_13_17_pass_ci95"][1].get<double>(), 0.7923, 1e-4);
}

TEST(Metrics, WilsonIntervalsAtTheEdgesAndForSmallRates) {
  // Reference values: the Wilson score formula evaluated independently (Python).
  Rate one_in_101{1, 101};
  EXPECT_NEAR(one_in_101.interval95().first, 0.00175, 1e-5);
  EXPECT_NEAR(one_in_101.interval95().second, 0.05397, 1e-5);
  Rate none{0, 10}, all{10, 10}, empty{0, 0};
  EXPECT_DOUBLE_EQ(none.interval95().first, 0.0);
  EXPECT_NEAR(none.interval95().second, 0.27753, 1e-5);  // 0 of 10 is not "0%, certainly"
  EXPECT_NEAR(all.interval95().first, 0.72247, 1e-5);
  EXPECT_DOUBLE_EQ(all.interval95().second, 1.0);
  EXPECT_TRUE(empty.interval_json().is_null());
}

TEST(Metrics, LegalAge21CountsUnder21) {
  // Under 21: a, b, c, d and the added 19-year-old i; only b (estimate 26) passes.
  std::vector<Prediction> preds = hand_set();
  preds.push_back({"i.jpg", 19, point_mass(22)});  // under 21, estimate 22 < 25: asked
  Policy us;
  us.legal_age = 21;
  EvalSummary s = summarise(preds, us);
  EXPECT_EQ(s.rates.under_legal_pass.count, 5);
  EXPECT_EQ(s.rates.under_legal_pass.hits, 1);
  EXPECT_EQ(s.rates.minors_13_17_pass.count, 3);
}

TEST(Metrics, ACalibratedDistributionCoversItsLevel) {
  // Uniform over 20..29 with one person of each age: the 90% interval is
  // [20.5, 29.5], covering half of years 20 and 29 and all of 21..28: 9/10.
  std::vector<Prediction> preds;
  for (int age = 20; age <= 29; ++age) {
    AgeDistribution d;
    d.probs.assign(kAges, 0.0);
    for (int a = 20; a <= 29; ++a) d.probs[a] = 0.1;
    preds.push_back({"p" + std::to_string(age) + ".jpg", age, d});
  }
  EvalSummary s = summarise(preds, Policy{});
  EXPECT_NEAR(s.coverage, 0.9, 1e-9);
  EXPECT_NEAR(s.mean_interval_width, 9.0, 1e-9);
  // Mean 24.5 against labels 20..29: |err| = 4.5, 3.5, ..., 0.5, 0.5, ..., 4.5 -> 25/10.
  EXPECT_NEAR(s.mae, 2.5, 1e-12);
}

TEST(Metrics, PolicyCurveAgainstChallengeAge) {
  std::vector<PolicyRates> curve = policy_curve(hand_set(), Policy{});
  ASSERT_EQ(curve.size(), 18u);  // challenge ages 18..35
  EXPECT_EQ(curve.front().challenge_age, 18);
  EXPECT_EQ(curve.back().challenge_age, 35);
  // Challenge 18: b (26) and d (20) pass; all adults pass (e's 24 >= 18).
  EXPECT_EQ(curve[0].minors_13_17_pass.hits, 2);
  EXPECT_EQ(curve[0].under_legal_pass.hits, 2);
  EXPECT_EQ(curve[0].adults_25plus_check.hits, 0);
  // Challenge 25 is the summary's policy.
  EXPECT_EQ(curve[7].challenge_age, 25);
  EXPECT_EQ(curve[7].minors_13_17_pass.hits, 1);
  EXPECT_EQ(curve[7].adults_25plus_check.hits, 1);
  // Challenge 27: b (26) is now asked; adults: only e.
  EXPECT_EQ(curve[9].minors_13_17_pass.hits, 0);
  EXPECT_EQ(curve[9].adults_25plus_check.hits, 1);
  // Challenge 35: f's 35 >= 35 still passes; e asked.
  EXPECT_EQ(curve[17].adults_25plus_check.hits, 1);
  // Raising the challenge age never lets more minors through nor asks fewer adults.
  for (size_t i = 1; i < curve.size(); ++i) {
    EXPECT_LE(curve[i].minors_13_17_pass.hits, curve[i - 1].minors_13_17_pass.hits);
    EXPECT_GE(curve[i].adults_25plus_check.hits, curve[i - 1].adults_25plus_check.hits);
  }
  nlohmann::json j = curve_to_json(curve);
  ASSERT_EQ(j.size(), 18u);
  EXPECT_DOUBLE_EQ(j[0]["minors_13_17_pass_rate"].get<double>(), 2.0 / 3.0);
  EXPECT_NE(format_curve_table(curve).find("66.7%"), std::string::npos);
}

TEST(Metrics, MisuseIsRejected) {
  EXPECT_THROW(summarise({}, Policy{}), InvalidInput);
  std::vector<Prediction> preds = hand_set();
  preds[2].real_age = -4;
  EXPECT_THROW(summarise(preds, Policy{}), InvalidInput);
  preds = hand_set();
  preds[3].dist.probs[50] = 0.5;  // sums to 1.5
  try {
    summarise(preds, Policy{});
    FAIL() << "bad distribution accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("d.jpg"), std::string::npos) << e.what();
  }
  Policy bad;
  bad.interval_level = 1.5;
  EXPECT_THROW(summarise(hand_set(), bad), InvalidInput);
}

TEST(Metrics, PredictionsCsvRoundTrip) {
  auto dir = testing::scratch_dir("csv");
  std::vector<Prediction> preds = hand_set();
  AgeDistribution uniform;
  uniform.probs.assign(kAges, 0.0);
  for (int a = 20; a <= 29; ++a) uniform.probs[a] = 0.1;
  preds.push_back({"u.jpg", 21, uniform});
  Policy p;
  write_predictions_csv(dir / "predictions.csv", preds, p);
  std::vector<PredictionRow> rows = read_predictions_csv(dir / "predictions.csv");
  ASSERT_EQ(rows.size(), preds.size());
  EXPECT_EQ(rows[1].file_name, "b.jpg");
  EXPECT_EQ(rows[1].real_age, 15);
  EXPECT_NEAR(rows[1].pred_age, 26.0, 1e-9);
  EXPECT_NEAR(rows[1].low, 26.05, 1e-9);
  EXPECT_NEAR(rows[1].high, 26.95, 1e-9);
  EXPECT_NEAR(rows[2].p_under_legal, 1.0, 1e-9);  // c, point mass at 16
  EXPECT_NEAR(rows.back().pred_age, 24.5, 1e-9);
  EXPECT_NEAR(rows.back().low, 20.5, 1e-9);
  EXPECT_NEAR(rows.back().high, 29.5, 1e-9);

  std::ifstream in(dir / "predictions.csv");
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "file_name,real_age,pred_age,low,high,p_under_legal");
}

TEST(Metrics, PredictionsCsvMisuse) {
  auto dir = testing::scratch_dir("csv-bad");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  };
  const std::string header = "file_name,real_age,pred_age,low,high,p_under_legal\n";
  EXPECT_THROW(read_predictions_csv(write("wrong_header.csv", "file,age\nx.jpg,3\n")), InvalidInput);
  EXPECT_THROW(read_predictions_csv(write("empty.csv", "")), InvalidInput);
  try {
    read_predictions_csv(write("short.csv", header + "a.jpg,10,12,11,13,0.5\nb.jpg,10,12\n"));
    FAIL() << "truncated row accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
  try {
    read_predictions_csv(write("nan.csv", header + "a.jpg,10,twelve,11,13,0.5\n"));
    FAIL() << "bad number accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("pred_age"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_predictions_csv(write("frac.csv", header + "a.jpg,10.5,12,11,13,0.5\n")), InvalidInput);
  EXPECT_THROW(read_predictions_csv(write("prob.csv", header + "a.jpg,10,12,11,13,1.5\n")), InvalidInput);
  EXPECT_THROW(read_predictions_csv(dir / "missing.csv"), IoError);
  std::vector<Prediction> comma = {{"a,b.jpg", 10, point_mass(10)}};
  EXPECT_THROW(write_predictions_csv(dir / "out.csv", comma, Policy{}), InvalidInput);
  EXPECT_FALSE(std::filesystem::exists(dir / "out.csv"));
}

}  // namespace
}  // namespace agegate

namespace agegate {
namespace {

AgeDistribution two_points(int likely, int unlikely, double p_unlikely) {
  AgeDistribution d;
  d.probs.assign(101, 0.0);
  d.probs[likely] = 1.0 - p_unlikely;
  d.probs[unlikely] = p_unlikely;
  return d;
}

// A minor (16) who looks 30 with 3% weight on 16, and an adult (40) who looks
// 40 with 2% weight on 10: both estimates clear 25, so only the risk guard
// separates them. Worked by hand: at max risk 1% both are asked (3% > 1%,
// 2% > 1%); at 2.5% the adult passes (2% <= 2.5%) and the minor is still asked;
// at 5% both pass.
TEST(Metrics, RiskCurveTradesMinorsPassingAgainstAdultsAsked) {
  std::vector<Prediction> preds{{"m.jpg", 16, two_points(30, 16, 0.03)},
                                {"a.jpg", 40, two_points(40, 10, 0.02)}};
  auto curve = risk_curve(preds, Policy{}, {0.01, 0.025, 0.05});
  ASSERT_EQ(curve.size(), 3u);
  EXPECT_DOUBLE_EQ(curve[1].max_risk, 0.025);
  EXPECT_EQ(curve[0].challenge_age, 25);
  EXPECT_EQ(curve[0].minors_13_17_pass.hits, 0);
  EXPECT_EQ(curve[0].adults_25plus_check.hits, 1);
  EXPECT_EQ(curve[1].minors_13_17_pass.hits, 0);
  EXPECT_EQ(curve[1].adults_25plus_check.hits, 0);
  EXPECT_EQ(curve[2].minors_13_17_pass.hits, 1);
  EXPECT_EQ(curve[2].adults_25plus_check.hits, 0);
  EXPECT_DOUBLE_EQ(curve_to_json(curve)[2]["max_risk"].get<double>(), 0.05);
  EXPECT_THROW(risk_curve(preds, Policy{}, {1.5}), InvalidInput);
}

}  // namespace
}  // namespace agegate

namespace agegate {
namespace {

// Teens estimated 12..26 with a risk that falls as the estimate rises;
// adults (30) estimated 18..42. The tuner must pick the grid point a brute
// force picks: within the bound on 13-17 passing, the fewest adults asked.
std::vector<PredictionRow> tuning_rows() {
  std::vector<PredictionRow> rows;
  for (int i = 0; i < 100; ++i) {
    const double est = 12.0 + 14.0 * i / 99.0;
    rows.push_back({"t" + std::to_string(i), 15, est, est - 5, est + 5, std::exp(-(est - 12.0) / 2.5)});
  }
  for (int i = 0; i < 300; ++i) {
    const double est = 18.0 + 24.0 * i / 299.0;
    rows.push_back({"a" + std::to_string(i), 30, est, est - 6, est + 6, std::exp(-(est - 12.0) / 2.5)});
  }
  return rows;
}

TEST(PolicyTuning, PicksTheFewestAdultsAskedWithinTheMinorBound) {
  const auto rows = tuning_rows();
  const Policy base;
  const PolicyTuning t = tune_policy(rows, base, 0.01);
  ASSERT_TRUE(t.found);
  EXPECT_LE(t.rates.minors_13_17_pass.rate(), 0.01);
  int64_t best = INT64_MAX;
  for (int c = base.legal_age; c <= kDefaultCurveLastChallengeAge; ++c) {
    for (double r : kTuningRisks) {
      Policy p = base;
      p.challenge_age = c;
      p.max_risk = r;
      const PolicyRates pr = policy_rates(rows, p);
      if (pr.minors_13_17_pass.rate() <= 0.01) best = std::min(best, pr.adults_25plus_check.hits);
    }
  }
  EXPECT_EQ(t.rates.adults_25plus_check.hits, best);
  EXPECT_EQ(policy_rates(rows, t.policy).adults_25plus_check.hits, best) << "the policy reproduces its rates";
  EXPECT_EQ(t.policy.legal_age, base.legal_age);
  ASSERT_EQ(t.frontier.size(), static_cast<size_t>(kDefaultCurveLastChallengeAge - base.legal_age + 1));
  // Challenge ages far above every teen's estimate keep teens out on their
  // own, so asking fewer adults needs a looser risk there, never a stricter one.
  EXPECT_TRUE(std::isfinite(t.frontier.back().max_risk));
  // A looser bound never asks more adults.
  const PolicyTuning loose = tune_policy(rows, base, 0.2);
  EXPECT_LE(loose.rates.adults_25plus_check.hits, t.rates.adults_25plus_check.hits);
  const std::string table = format_tuning_table(t);
  EXPECT_NE(table.find(t.policy.describe()), std::string::npos) << table;
  EXPECT_EQ(t.to_json()["policy"]["challenge_age"], t.policy.challenge_age);
}

TEST(PolicyTuning, SaysWhenNothingMeetsTheBound) {
  std::vector<PredictionRow> rows;
  // A teen estimated 60 with no risk passes under every grid policy.
  rows.push_back({"t", 15, 60.0, 55, 65, 0.0});
  rows.push_back({"a", 40, 40.0, 35, 45, 0.0});
  const PolicyTuning t = tune_policy(rows, Policy{}, 0.01);
  EXPECT_FALSE(t.found);
  EXPECT_TRUE(t.to_json()["policy"].is_null());
  EXPECT_NE(format_tuning_table(t).find("none on the grid"), std::string::npos);
  EXPECT_THROW(tune_policy(rows, Policy{}, 1.5), InvalidInput);
}

}  // namespace
}  // namespace agegate
