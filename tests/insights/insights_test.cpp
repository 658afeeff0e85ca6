// Purchase insights on small data sets made here, whose figures can be
// checked by hand: lift and its interval, the support threshold, no
// restricted goods below the challenge age, band redraws, the held-out
// evaluation, and the recommender's input checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/insights/insights.h"
#include "test_support.h"

namespace agegate {
namespace {
using json = nlohmann::json;

// Builds retail data basket by basket.
class Shop {
 public:
  Shop() {
    for (const char* band : {"19-24", "35-44"}) data_.households.push_back({std::string("h") + band, band});
    product("beer", "GROCERY", "BEERS/ALES", true);
    product("pizza", "GROCERY", "FROZEN PIZZA");
    product("milk", "GROCERY", "FLUID MILK PRODUCTS");
    product("bread", "GROCERY", "BREAD");
    product("apples", "PRODUCE", "APPLES");
  }
  void product(const std::string& id, const std::string& dep, const std::string& cat, bool restricted = false) {
    data_.products.push_back({id, dep, cat, id + " type", "National", restricted});
  }
  // n baskets of `band`'s household in `week`, each holding `products`.
  void baskets(const std::string& band, int n, const std::vector<std::string>& products, int week = 1) {
    for (int i = 0; i < n; ++i) {
      const std::string basket = "b" + std::to_string(next_basket_++);
      for (const auto& p : products) {
        RetailLine l;
        l.source_line = ++next_line_;
        l.basket = basket;
        l.household = "h" + band;
        l.store = "s1";
        l.product = p;
        l.quantity = 1;
        l.value = p == "beer" ? 10 : 2;
        l.week = week;
        data_.lines.push_back(l);
      }
    }
  }
  const RetailData& data() const { return data_; }

 private:
  RetailData data_;
  int next_basket_ = 0;
  int64_t next_line_ = 1;
};

// Beer over-indexed in the 19-24 band and in `older` (with bread there),
// against 60 milk-only baskets of a 65+ household.
RetailData beer_against_milk(const std::string& older) {
  Shop shop;
  shop.baskets("19-24", 20, {"beer"});
  shop.baskets(older, 20, {"beer", "bread"});
  RetailData d = shop.data();
  if (older != "35-44") d.households.push_back({"h" + older, older});
  d.households.push_back({"h65+", "65+"});
  for (int i = 0; i < 60; ++i) {
    d.lines.push_back({1000 + i, "old" + std::to_string(i), "h65+", "s1", "milk", 1, 2, 1, 0});
  }
  return d;
}

InsightsOptions two_bands() {
  InsightsOptions o;
  o.bands = parse_age_bands("19-24,35-44", "test");
  o.min_support = 5;
  o.top_k = 3;
  o.resamples = 0;
  o.holdout_weeks = 1;
  return o;
}

const BandInsights& band(const InsightsResult& r, const std::string& name) {
  for (const auto& b : r.bands) {
    if (b.band.name == name) return b;
  }
  throw std::runtime_error("no band " + name);
}

const Lift* category(const BandInsights& b, const std::string& name) {
  for (const auto& l : b.categories) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

std::vector<std::string> ranked_names(const BandInsights& b) {
  std::vector<std::string> out;
  for (const auto& r : b.ranked) out.push_back(r.lift.name);
  return out;
}

TEST(Lift, MatchesTheHandComputedRatio) {
  // Band: 4 of 10 baskets hold X; everyone: 7 of 40. Lift = 0.4 / 0.175.
  const Lift l = make_lift("X", 4, 10, 7, 40, /*min_support=*/5);
  EXPECT_NEAR(l.lift, 0.4 / 0.175, 1e-12);
  EXPECT_NEAR(l.share(), 0.4, 1e-12);
  EXPECT_LT(l.low, l.lift);
  EXPECT_GT(l.high, l.lift);
  EXPECT_FALSE(l.supported);  // 4 < 5 baskets
  EXPECT_FALSE(l.over);
  EXPECT_TRUE(make_lift("X", 5, 10, 7, 40, 5).supported);
  // The band is everyone: lift exactly 1 with no spread.
  const Lift all = make_lift("X", 7, 40, 7, 40, 5);
  EXPECT_NEAR(all.lift, 1.0, 1e-12);
  EXPECT_NEAR(all.low, 1.0, 1e-9);
  EXPECT_NEAR(all.high, 1.0, 1e-9);
  // Nothing bought: lift 0 and an upper bound from the continuity correction.
  const Lift none = make_lift("X", 0, 10, 7, 40, 5);
  EXPECT_EQ(none.lift, 0);
  EXPECT_EQ(none.low, 0);
  EXPECT_GT(none.high, 0);
  EXPECT_THROW(make_lift("X", 11, 10, 7, 40, 5), std::exception);
}

// The interval claims 95%: draw many shops with a known lift and count.
TEST(Lift, TheIntervalCoversTheTrueLiftAboutNinetyFivePercentOfTheTime) {
  std::mt19937_64 rng(7);
  const int n1 = 400, n2 = 1600;
  const double p1 = 0.10, p2 = 0.05;
  const double truth = p1 / ((n1 * p1 + n2 * p2) / (n1 + n2));
  std::binomial_distribution<int> band(n1, p1), rest(n2, p2);
  const int trials = 2000;
  int covered = 0;
  for (int t = 0; t < trials; ++t) {
    const int x1 = band(rng), x2 = rest(rng);
    const Lift l = make_lift("X", x1, n1, x1 + x2, n1 + n2, 1);
    covered += l.low <= truth && truth <= l.high;
  }
  const double coverage = double(covered) / trials;
  EXPECT_GT(coverage, 0.93);
  EXPECT_LT(coverage, 0.97);
}

TEST(Insights, CountsBasketsSpendAndLiftsByBand) {
  Shop shop;
  shop.baskets("19-24", 8, {"pizza", "milk"});
  shop.baskets("19-24", 2, {"milk"});
  shop.baskets("35-44", 2, {"pizza"});
  shop.baskets("35-44", 28, {"bread", "milk"});
  const InsightsResult r = compute_insights(shop.data(), two_bands(), nullptr);
  EXPECT_EQ(r.baskets, 40);
  EXPECT_EQ(r.banded_baskets, 40);
  const BandInsights& young = band(r, "19-24");
  EXPECT_EQ(young.baskets, 10);
  EXPECT_EQ(young.lines, 18);
  EXPECT_NEAR(young.spend, 36.0, 1e-9);
  const Lift* pizza = category(young, "FROZEN PIZZA");
  ASSERT_NE(pizza, nullptr);
  EXPECT_EQ(pizza->band_with, 8);
  EXPECT_EQ(pizza->all_with, 10);
  EXPECT_NEAR(pizza->lift, 0.8 / (10.0 / 40.0), 1e-12);  // 3.2
  EXPECT_TRUE(pizza->over);
  // Milk: everyone buys it about equally: not over-indexed, not recommended.
  const Lift* milk = category(young, "FLUID MILK PRODUCTS");
  ASSERT_NE(milk, nullptr);
  EXPECT_NEAR(milk->lift, 1.0 / (38.0 / 40.0), 1e-12);
  EXPECT_FALSE(milk->over);
  EXPECT_EQ(ranked_names(young), std::vector<std::string>{"FROZEN PIZZA"});
  // Bread is only 35-44's; 2 pizza baskets are below the support of 5.
  const BandInsights& older = band(r, "35-44");
  EXPECT_EQ(ranked_names(older), std::vector<std::string>{"BREAD"});
  EXPECT_FALSE(category(older, "FROZEN PIZZA")->supported);
  // Departments: produce is bought by nobody, grocery by all.
  ASSERT_FALSE(young.departments.empty());
  EXPECT_EQ(young.departments.front().name, "GROCERY");
  EXPECT_NEAR(young.departments.front().lift, 1.0, 1e-12);
}

TEST(Insights, NoRestrictedProductIsRecommendedBelowTheChallengeAge) {
  // Beer over-indexed in both bands, against milk-only households of a third band.
  const RetailData d = beer_against_milk("35-44");
  InsightsOptions o = two_bands();
  o.bands = parse_age_bands("19-24,35-44,65+", "test");
  const InsightsResult r = compute_insights(d, o, nullptr);
  const Lift* young_beer = category(band(r, "19-24"), "BEERS/ALES");
  ASSERT_NE(young_beer, nullptr);
  EXPECT_TRUE(young_beer->over);  // it is what they buy more...
  EXPECT_TRUE(young_beer->restricted);
  for (const auto& rec : band(r, "19-24").ranked) EXPECT_FALSE(rec.lift.restricted) << rec.lift.name;  // ...but never offered
  const auto older = ranked_names(band(r, "35-44"));
  EXPECT_NE(std::find(older.begin(), older.end(), "BEERS/ALES"), older.end());

  const Recommender rec = recommender_from(r);
  auto names = [](const json& answer) {
    std::vector<std::string> out;
    for (const auto& i : answer.at("items")) out.push_back(i.at("category"));
    return out;
  };
  auto has_beer = [&](const json& answer) {
    const auto n = names(answer);
    return std::find(n.begin(), n.end(), "BEERS/ALES") != n.end();
  };
  for (double age : {0.0, 12.0, 17.9, 19.0, 22.5, 24.99}) {
    const json a = rec.recommend({age, "", 5}, 25);
    EXPECT_FALSE(has_beer(a)) << age;
    EXPECT_FALSE(a.at("restricted_allowed").get<bool>()) << age;
  }
  EXPECT_FALSE(has_beer(rec.recommend({std::nullopt, "19-24", 5}, 25)));
  EXPECT_TRUE(has_beer(rec.recommend({40.0, "", 5}, 25)));
  EXPECT_TRUE(has_beer(rec.recommend({std::nullopt, "35-44", 5}, 25)));
  // A stricter policy moves the line: at challenge age 40, a 36-year-old and
  // the whole 35-44 band get none.
  EXPECT_FALSE(has_beer(rec.recommend({36.0, "", 5}, 40)));
  EXPECT_FALSE(has_beer(rec.recommend({std::nullopt, "35-44", 5}, 40)));
  // An age in a gap between bands uses the nearest band and says so.
  const json gap = rec.recommend({30.0, "", 5}, 25);
  EXPECT_EQ(gap.at("band"), "35-44");
  EXPECT_NE(gap.at("notes").dump().find("nearest band"), std::string::npos);
}

// At the line itself: an estimate of exactly 25 and the band 25-34 (youngest
// age 25) may be offered restricted goods at challenge age 25; 24.99 (band
// 19-24) may not; at challenge age 26 the 25-34 band may not either.
TEST(Recommender, TheChallengeAgeItselfIsOnTheAllowedSide) {
  const RetailData d = beer_against_milk("25-34");
  InsightsOptions o = two_bands();
  o.bands = parse_age_bands("19-24,25-34,65+", "test");
  const Recommender rec = recommender_from(compute_insights(d, o, nullptr));
  auto allowed = [&](std::optional<double> age, const std::string& band, int challenge) {
    const json a = rec.recommend({age, band, 5}, challenge);
    bool beer = false;
    for (const auto& i : a.at("items")) beer = beer || i.at("category") == "BEERS/ALES";
    EXPECT_EQ(beer, a.at("restricted_allowed").get<bool>()) << a.dump();
    return a.at("restricted_allowed").get<bool>();
  };
  EXPECT_TRUE(allowed(25.0, "", 25));
  EXPECT_TRUE(allowed(std::nullopt, "25-34", 25));
  EXPECT_FALSE(allowed(24.99, "", 25));
  EXPECT_FALSE(allowed(std::nullopt, "19-24", 25));
  EXPECT_FALSE(allowed(25.0, "", 26));
  EXPECT_FALSE(allowed(std::nullopt, "25-34", 26));
}

TEST(Recommender, RefusesBadQueriesAndRoundTripsThroughItsFile) {
  Shop shop;
  shop.baskets("19-24", 10, {"pizza"});
  shop.baskets("35-44", 10, {"bread"});
  const InsightsResult r = compute_insights(shop.data(), two_bands(), nullptr);
  const Recommender rec = recommender_from(r);
  EXPECT_THROW(rec.recommend({std::nullopt, "", 5}, 25), InvalidInput);       // neither
  EXPECT_THROW(rec.recommend({30.0, "35-44", 5}, 25), InvalidInput);          // both
  EXPECT_THROW(rec.recommend({std::nullopt, "30-39", 5}, 25), InvalidInput);  // unknown band
  EXPECT_THROW(rec.recommend({-1.0, "", 5}, 25), InvalidInput);
  EXPECT_THROW(rec.recommend({121.0, "", 5}, 25), InvalidInput);
  EXPECT_THROW(rec.recommend({std::nan(""), "", 5}, 25), InvalidInput);
  EXPECT_THROW(rec.recommend({30.0, "", 0}, 25), InvalidInput);
  EXPECT_THROW(rec.recommend({30.0, "", 51}, 25), InvalidInput);

  const auto dir = testing::scratch_dir("recommender");
  write_file_atomic(dir / "r.json", rec.to_json().dump());
  const Recommender back = Recommender::load(dir / "r.json");
  EXPECT_EQ(back.recommend({22.0, "", 5}, 25), rec.recommend({22.0, "", 5}, 25));
  write_file_atomic(dir / "bad.json", R"({"format": "something else", "version": 1})");
  EXPECT_THROW(Recommender::load(dir / "bad.json"), InvalidInput);
  write_file_atomic(dir / "broken.json", "{");
  EXPECT_THROW(Recommender::load(dir / "broken.json"), InvalidInput);
  EXPECT_THROW(Recommender::load(dir / "missing.json"), IoError);
}

TEST(BandConfusion, CountsEstimatesByWholeYearsWithAnOutsideColumn) {
  const auto bands = parse_age_bands("19-24,35-44", "test");
  const BandConfusion c = band_confusion({{20, 20.9}, {20, 24.99}, {21, 25.0}, {40, 18.5}, {40, 36.0}, {10, 20.0}},
                                         bands, "test");
  ASSERT_EQ(c.counts.size(), 2u);
  EXPECT_EQ(c.counts[0], (std::vector<int64_t>{2, 0, 1}));  // 25.0 is in no band
  EXPECT_EQ(c.counts[1], (std::vector<int64_t>{0, 1, 1}));  // 18.5 is below every band
  EXPECT_FALSE(c.empty());                                   // (age 10 has no band: not counted)
}

TEST(Insights, RedrawnBandsKeepWhatAGoodCameraSeesAndBlurWhatAPoorOneSees) {
  Shop shop;
  shop.baskets("19-24", 60, {"pizza"});
  shop.baskets("19-24", 40, {"milk"});
  shop.baskets("35-44", 10, {"pizza"});
  shop.baskets("35-44", 90, {"bread"});
  InsightsOptions o = two_bands();
  o.resamples = 100;
  o.top_k = 1;
  BandConfusion good;
  good.bands = o.bands;
  good.counts = {{200, 0, 0}, {0, 200, 0}};
  const InsightsResult sharp = compute_insights(shop.data(), o, &good);
  const Recommendation& kept = band(sharp, "19-24").ranked.front();
  ASSERT_TRUE(kept.kept.has_value());
  EXPECT_GT(*kept.kept, 0.95);
  EXPECT_TRUE(kept.robust);
  EXPECT_NEAR(kept.estimated_lift.p50, kept.lift.lift, 0.1);

  BandConfusion coin;  // the camera cannot tell the bands apart
  coin.bands = o.bands;
  coin.counts = {{100, 100, 0}, {100, 100, 0}};
  const InsightsResult blurred = compute_insights(shop.data(), o, &coin);
  const Recommendation& lost = band(blurred, "19-24").ranked.front();
  ASSERT_TRUE(lost.kept.has_value());
  EXPECT_FALSE(lost.robust);
  // The band's top category is milk: 40 of its 100 baskets against 40 of 200.
  EXPECT_EQ(lost.lift.name, "FLUID MILK PRODUCTS");
  EXPECT_NEAR(lost.lift.lift, 0.4 / 0.2, 1e-9);
  EXPECT_LT(lost.estimated_lift.p50, 1.2);  // 2.0 with known bands
}

TEST(Insights, TheHeldOutWeeksAreScoredForEachList) {
  Shop shop;
  // Weeks 1-9: 19-24 over-buys pizza; milk is everyone's best seller.
  shop.baskets("19-24", 20, {"pizza", "milk"}, 1);
  shop.baskets("19-24", 10, {"milk"}, 1);
  shop.baskets("35-44", 60, {"milk", "bread"}, 5);
  // Week 10, held out: 19-24 baskets 3 with pizza, 1 with milk; 35-44: 2 with bread.
  shop.baskets("19-24", 3, {"pizza"}, 10);
  shop.baskets("19-24", 1, {"milk"}, 10);
  shop.baskets("35-44", 2, {"bread"}, 10);
  InsightsOptions o = two_bands();
  o.top_k = 1;
  const InsightsResult r = compute_insights(shop.data(), o, nullptr);
  const HoldoutEvaluation& ev = r.evaluation;
  EXPECT_EQ(ev.first_week, 10);
  EXPECT_EQ(ev.test_baskets, 6);
  EXPECT_EQ(ev.train_baskets, 90);
  ASSERT_EQ(ev.methods.size(), 5u);
  EXPECT_EQ(ev.methods[4].name, "band_contrast");
  // Week 9, where the ranking would be chosen, has no basket: nothing is
  // eligible and the lift ranking stays.
  EXPECT_EQ(ev.selection.first_week, 9);
  EXPECT_EQ(ev.selection.chosen, "lift");
  EXPECT_NE(ev.selection.why.find("kept"), std::string::npos) << ev.selection.why;
  EXPECT_EQ(r.ranking, "lift");
  // band_lift: 19-24 -> pizza (3 of 4), 35-44 -> bread (2 of 2).
  EXPECT_EQ(ev.methods[0].name, "band_lift");
  EXPECT_EQ(ev.methods[0].hits, 5);
  EXPECT_EQ(ev.methods[0].by_band[0], (std::pair<int64_t, int64_t>{3, 4}));
  // overall best seller: milk (90 baskets) -> 1 of 4 and 0 of 2.
  EXPECT_EQ(ev.methods[2].name, "overall_best_sellers");
  EXPECT_EQ(ev.methods[2].hits, 1);
  // Lists fit their band: pizza hits no 35-44 basket, bread no 19-24 one.
  EXPECT_EQ(ev.methods[0].other_by_band[0], (std::pair<int64_t, int64_t>{0, 2}));
  EXPECT_EQ(ev.methods[0].other_rate(), 0.0);
  // band_uplift: 19-24 pizza (20/30 - 20/90 = 0.44; milk 30/30 - 90/90 = 0 is no uplift),
  // 35-44 bread (60/60 - 60/90 = 0.33).
  EXPECT_EQ(ev.methods[3].name, "band_uplift");
  EXPECT_EQ(ev.methods[3].hits, 5);
  EXPECT_EQ(ev.methods[3].by_band[0], (std::pair<int64_t, int64_t>{3, 4}));
  EXPECT_EQ(ev.methods[3].other_by_band[1], (std::pair<int64_t, int64_t>{0, 4}));
}

TEST(Insights, RefusesOptionsThatMeanNothing) {
  Shop shop;
  shop.baskets("19-24", 3, {"milk"});
  InsightsOptions o = two_bands();
  o.min_support = 0;
  EXPECT_THROW(compute_insights(shop.data(), o, nullptr), InvalidInput);
  o = two_bands();
  o.top_k = 0;
  EXPECT_THROW(compute_insights(shop.data(), o, nullptr), InvalidInput);
  BandConfusion wrong;
  wrong.bands = parse_age_bands("marketing", "test");
  wrong.counts.assign(6, std::vector<int64_t>(7, 1));
  EXPECT_THROW(compute_insights(shop.data(), two_bands(), &wrong), InvalidInput);
}

TEST(Insights, WritesTheReportWithEveryChart) {
  Shop shop;
  shop.baskets("19-24", 20, {"pizza", "milk"}, 1);
  shop.baskets("35-44", 30, {"bread", "milk"}, 2);
  shop.baskets("19-24", 5, {"pizza"}, 3);
  shop.baskets("35-44", 5, {"bread"}, 3);
  const InsightsResult r = compute_insights(shop.data(), two_bands(), nullptr);
  const auto dir = testing::scratch_dir("insights_report");
  ChartOptions charts;
  write_insights_report(r, dir, charts);
  const std::string html = read_file(dir / "index.html");
  for (const char* chart : {"heatmap", "recommendations", "restricted", "evaluation"}) {
    EXPECT_TRUE(std::filesystem::exists(dir / "charts" / (std::string(chart) + ".png"))) << chart;
    EXPECT_NE(html.find(std::string("charts/") + chart + ".png"), std::string::npos) << chart;
  }
  EXPECT_NE(html.find("Support threshold"), std::string::npos);
  const json j = json::parse(read_file(dir / "insights.json"));
  EXPECT_EQ(j.at("bands").size(), 2u);
  EXPECT_EQ(j.at("evaluation").at("methods").size(), 5u);
  EXPECT_TRUE(j.at("evaluation").contains("ranking_selection"));
  EXPECT_NO_THROW(Recommender::load(dir / "recommendations.json"));
}

}  // namespace
}  // namespace agegate
