// The insights on the real retail sample (../shared/data/retail, 100k
// lines): the database's GROUP BY counts equal the counts from memory on both
// engines, so do the insights computed from them, and the camera-confusion
// redraws from per-band counts agree with drawing every basket's band on its
// own within the simulation's noise.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include "agegate/core/run_info.h"
#include "agegate/data/labels.h"
#include "agegate/insights/insights.h"
#include "agegate/model/model_file.h"
#include "agegate/store/store.h"
#include "test_db.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

const RetailData& sample() {
  static const RetailData d = [] {
    std::vector<RetailProblem> problems;
    return read_retail_dir(default_shared_dir() / "data" / "retail", RetailReadOptions{}, &problems);
  }();
  return d;
}

// Equal JSON, numbers to a relative 1e-9 (sums of doubles taken in another
// order differ in their last digits); "seconds" is the run's own.
void expect_same(const json& a, const json& b, const std::string& path, int* numbers) {
  if (path.size() >= 7 && path.substr(path.size() - 7) == "seconds") return;
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    EXPECT_LE(std::abs(x - y), 1e-9 * std::max(std::abs(x), std::abs(y))) << path << ": " << x << " vs " << y;
    ++*numbers;
    return;
  }
  ASSERT_EQ(a.type(), b.type()) << path;
  if (a.is_object()) {
    ASSERT_EQ(a.size(), b.size()) << path;
    for (auto it = a.begin(); it != a.end(); ++it) {
      ASSERT_TRUE(b.contains(it.key())) << path << "/" << it.key();
      expect_same(it.value(), b.at(it.key()), path + "/" + it.key(), numbers);
    }
  } else if (a.is_array()) {
    ASSERT_EQ(a.size(), b.size()) << path;
    for (size_t i = 0; i < a.size(); ++i) expect_same(a[i], b[i], path + "/" + std::to_string(i), numbers);
  } else {
    EXPECT_EQ(a, b) << path;
  }
}

json band_rows(std::vector<RetailBandRow> rows) {
  std::sort(rows.begin(), rows.end(), [](const auto& x, const auto& y) {
    return std::tie(x.band, x.held) < std::tie(y.band, y.held);
  });
  json out = json::array();
  for (const auto& r : rows) {
    out.push_back({r.band, r.held, r.baskets, r.categorised, r.lines, r.restricted_lines, r.unknown_lines, r.spend,
                   r.restricted_spend, r.spend_sq, r.restricted_sq, r.spend_restricted});
  }
  return out;
}

json item_rows(std::vector<RetailItemRow> rows) {
  json out = json::array();
  for (const auto& r : rows) out.push_back({r.band, r.held, r.name, r.baskets});
  std::sort(out.begin(), out.end());
  return out;
}

// Every count the insights read, as one JSON value.
json all_counts(const RetailCounts& c, int held_from) {
  json products = json::array(), hits = json::array(), cats = json::array();
  for (const auto& r : c.product_baskets({"BEERS/ALES", "FROZEN PIZZA", "BABY FOODS"})) {
    products.push_back({r.band, r.id, r.category, r.type, r.brand, r.baskets});
  }
  for (const auto& r : c.list_hits(held_from, 53, {{"FROZEN PIZZA", "BABY FOODS"}, {"SOFT DRINKS"}, {"EGGS", "MILK"}})) {
    hits.push_back({r.list, r.band, r.baskets});
  }
  for (const auto& r : c.categories()) cats.push_back({r.name, r.department, r.restricted});
  for (json* j : {&products, &hits, &cats}) std::sort(j->begin(), j->end());
  auto households = c.households();
  std::sort(households.begin(), households.end());
  return {{"last_week", c.last_week()},     {"households", households},
          {"categories", cats},             {"bands", band_rows(c.bands(held_from))},
          {"category_baskets", item_rows(c.category_baskets(held_from))},
          {"department_baskets", item_rows(c.department_baskets(held_from))},
          {"products", products},           {"hits", hits}};
}

class RetailSampleTest : public testing::BackendTest {};

TEST_P(RetailSampleTest, TheDatabaseCountsAndInsightsEqualTheOnesFromMemory) {
  const RetailData& d = sample();
  ASSERT_GT(d.lines.size(), 90000u);
  auto store = Store::open(url_);
  store->replace_retail(d);
  const auto memory = retail_counts_of(d);
  const auto db = store->retail_counts();
  int numbers = 0;
  const json mem_counts = all_counts(*memory, 46), db_counts = all_counts(*db, 46);
  expect_same(mem_counts, db_counts, "counts", &numbers);
  EXPECT_GT(mem_counts.at("category_baskets").size(), 1000u);
  EXPECT_FALSE(mem_counts.at("hits").empty());

  InsightsOptions o;
  o.resamples = 0;
  const json from_memory = compute_insights(*memory, o, nullptr).to_json();
  const json from_db = compute_insights(*db, o, nullptr).to_json();
  expect_same(from_memory, from_db, "insights", &numbers);
  EXPECT_GT(numbers, 10000);
  EXPECT_EQ(from_db.at("lines").get<int64_t>(), int64_t(d.lines.size()));
}

INSTANTIATE_TEST_SUITE_P(Backends, RetailSampleTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

// The recommendations' ranking is chosen on the weeks before the held-out
// ones, by the rule RankingSelection states, and then used: on the sample
// the eligible ranking with the most hits on weeks 38-45.
TEST(RetailSample, TheRankingIsChosenOnTheWeeksBeforeTheHeldOutOnes) {
  const RetailData& d = sample();
  InsightsOptions o;
  o.resamples = 0;
  const InsightsResult r = compute_insights(d, o, nullptr);
  const RankingSelection& sel = r.evaluation.selection;
  EXPECT_EQ(sel.last_week, r.evaluation.first_week - 1);
  EXPECT_EQ(sel.first_week, r.evaluation.first_week - o.holdout_weeks);
  ASSERT_EQ(sel.methods.size(), 4u);
  const double best_sellers = sel.methods[3].own_rate();
  const HoldoutMethod* chosen = nullptr;
  for (int m = 0; m < 3; ++m) {
    const HoldoutMethod& hm = sel.methods[m];
    EXPECT_GT(hm.baskets, 1000) << hm.name;
    const bool eligible = hm.own_rate() / hm.other_rate() >= 1.2 && hm.own_rate() >= 0.5 * best_sellers;
    if (eligible && (!chosen || hm.hits > chosen->hits)) chosen = &hm;
  }
  ASSERT_NE(chosen, nullptr);
  EXPECT_EQ("band_" + sel.chosen, chosen->name);
  EXPECT_EQ(r.ranking, sel.chosen);
  // The recommendations follow it: with uplift, each is bought by more of
  // the band's baskets than of all baskets, and by at least min_support.
  if (r.ranking == "uplift") {
    for (const BandInsights& b : r.bands) {
      ASSERT_FALSE(b.ranked.empty()) << b.band.name;
      for (const Recommendation& rec : b.ranked) {
        EXPECT_GT(rec.lift.lift, 1.0) << b.band.name << " " << rec.lift.name;
        EXPECT_GE(rec.lift.band_with, o.min_support);
        if (b.band.low < o.challenge_age) EXPECT_FALSE(rec.lift.restricted) << rec.lift.name;
      }
    }
  }
  o.ranking = Ranking::kLift;
  const InsightsResult given = compute_insights(d, o, nullptr);
  EXPECT_EQ(given.ranking, "lift");
  EXPECT_NE(given.evaluation.selection.why.find("given"), std::string::npos);
  for (const BandInsights& b : given.bands) {
    for (const Recommendation& rec : b.ranked) EXPECT_TRUE(rec.lift.over) << rec.lift.name;
  }
}

// The shipped model's band confusion on its 1,139 validation photos
// (`agegate insights` prints it as "confusion" in --json).
BandConfusion shipped_model_confusion() {
  BandConfusion c;
  c.bands = marketing_age_bands();
  c.counts = {{41, 58, 1, 0, 0, 0, 10},  {37, 254, 30, 8, 0, 0, 11}, {4, 68, 57, 24, 5, 1, 1},
              {2, 15, 27, 40, 27, 1, 0}, {0, 0, 12, 22, 37, 7, 0},   {0, 0, 0, 7, 33, 50, 1}};
  c.source = "test";
  return c;
}

// Drawing every basket's band on its own, as the insights did before their
// counts came from the database: per band, for its recommendations, how
// often each stays in the top k and its lift's median; and the median
// restricted spend share.
struct PerBasket {
  std::vector<std::vector<double>> kept, lift_p50;
  std::vector<double> restricted_p50;
};

PerBasket per_basket_redraws(const RetailData& d, const InsightsOptions& o, const BandConfusion& conf,
                             const InsightsResult& r, int reps) {
  const size_t nb = o.bands.size();
  std::map<std::string, int> cat_id;
  std::vector<bool> restricted;
  std::unordered_map<std::string, int> product_cat;
  std::unordered_map<std::string, bool> product_restricted;
  for (const auto& p : d.products) {
    product_restricted[p.id] = p.restricted;
    if (p.category.empty()) continue;
    auto [it, added] = cat_id.emplace(p.category, int(cat_id.size()));
    if (added) restricted.push_back(false);
    restricted[it->second] = restricted[it->second] || p.restricted;
    product_cat[p.id] = it->second;
  }
  std::vector<std::string> cat_name(cat_id.size());
  for (const auto& [n, i] : cat_id) cat_name[i] = n;
  std::unordered_map<std::string, int> band_of;
  for (const auto& h : d.households) {
    for (size_t b = 0; b < nb; ++b) {
      if (o.bands[b].name == h.band) band_of[h.id] = int(b);
    }
  }
  struct Basket {
    int band = -1;
    std::set<int> cats;
    double spend = 0, restricted = 0;
  };
  std::unordered_map<std::string, Basket> by_id;
  for (const auto& l : d.lines) {
    Basket& b = by_id[l.basket];
    auto h = band_of.find(l.household);
    b.band = h == band_of.end() ? -1 : h->second;
    b.spend += l.value;
    auto pr = product_restricted.find(l.product);
    if (pr != product_restricted.end() && pr->second) b.restricted += l.value;
    auto c = product_cat.find(l.product);
    if (c != product_cat.end()) b.cats.insert(c->second);
  }
  std::vector<Basket> baskets;
  for (auto& [id, b] : by_id) {
    if (b.band >= 0) baskets.push_back(std::move(b));
  }
  PerBasket out;
  std::vector<std::vector<std::vector<double>>> lifts(nb);
  std::vector<std::vector<double>> shares(nb);
  out.kept.assign(nb, {});
  for (size_t b = 0; b < nb; ++b) {
    out.kept[b].assign(std::min<size_t>(r.bands[b].ranked.size(), o.top_k), 0);
    lifts[b].assign(out.kept[b].size(), {});
  }
  std::mt19937_64 rng(17);
  const size_t nc = cat_name.size();
  for (int rep = 0; rep < reps; ++rep) {
    std::vector<std::discrete_distribution<int>> rows;
    for (const auto& row : conf.counts) {
      std::vector<double> w;
      for (int64_t v : row) w.push_back(std::gamma_distribution<double>(double(v) + 0.5, 1.0)(rng));
      rows.emplace_back(w.begin(), w.end());
    }
    std::vector<int64_t> n(nb, 0), all_cat(nc, 0);
    std::vector<std::vector<int64_t>> cat(nb, std::vector<int64_t>(nc, 0));
    std::vector<double> s(nb, 0), rs(nb, 0);
    int64_t all = 0;
    for (const auto& k : baskets) {
      const int e = rows[k.band](rng);
      if (e >= int(nb)) continue;
      n[e]++, all++, s[e] += k.spend, rs[e] += k.restricted;
      for (int c : k.cats) cat[e][c]++, all_cat[c]++;
    }
    for (size_t b = 0; b < nb; ++b) {
      std::vector<Lift> ranked;
      for (size_t c = 0; c < nc; ++c) {
        if (cat[b][c] == 0) continue;
        Lift l = make_lift(cat_name[c], cat[b][c], n[b], all_cat[c], all, o.min_support);
        if (l.over && (o.bands[b].low >= o.challenge_age || !restricted[c])) ranked.push_back(l);
      }
      std::sort(ranked.begin(), ranked.end(),
                [](const Lift& x, const Lift& y) { return x.lift != y.lift ? x.lift > y.lift : x.name < y.name; });
      if (ranked.size() > size_t(o.top_k)) ranked.resize(o.top_k);
      for (size_t j = 0; j < out.kept[b].size(); ++j) {
        const std::string& name = r.bands[b].ranked[j].lift.name;
        const int c = cat_id.at(name);
        out.kept[b][j] += std::any_of(ranked.begin(), ranked.end(), [&](const Lift& l) { return l.name == name; });
        lifts[b][j].push_back(make_lift(name, cat[b][c], n[b], all_cat[c], all, o.min_support).lift);
      }
      shares[b].push_back(rs[b] / s[b]);
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return 0.5 * (v[(v.size() - 1) / 2] + v[v.size() / 2]);
  };
  out.lift_p50.assign(nb, {});
  for (size_t b = 0; b < nb; ++b) {
    for (double& k : out.kept[b]) k /= reps;
    for (const auto& l : lifts[b]) out.lift_p50[b].push_back(median(l));
    out.restricted_p50.push_back(median(shares[b]));
  }
  return out;
}

// With 400 redraws each, a share kept in the top k has a standard error of
// at most 0.025 per method; the bound 0.12 is under 3.5 standard errors of
// the difference. Medians are compared against the spread the insights
// report (p95 - p05): within a fifth of it (their standard error is about
// 3% of it each).
TEST(RetailSample, RedrawsFromPerBandCountsAgreeWithPerBasketRedraws) {
  const RetailData& d = sample();
  InsightsOptions o;
  o.resamples = 400;
  o.ranking = Ranking::kLift;  // the reference ranks by lift
  const BandConfusion conf = shipped_model_confusion();
  const InsightsResult r = compute_insights(d, o, &conf);
  const PerBasket ref = per_basket_redraws(d, o, conf, r, 400);
  int compared = 0;
  for (size_t b = 0; b < r.bands.size(); ++b) {
    const BandInsights& bi = r.bands[b];
    for (size_t j = 0; j < ref.kept[b].size(); ++j) {
      const Recommendation& rec = bi.ranked[j];
      const std::string what = bi.band.name + " " + rec.lift.name;
      ASSERT_TRUE(rec.kept.has_value()) << what;
      EXPECT_NEAR(*rec.kept, ref.kept[b][j], 0.12) << what;
      const double spread = rec.estimated_lift.p95 - rec.estimated_lift.p05;
      EXPECT_NEAR(rec.estimated_lift.p50, ref.lift_p50[b][j], 0.2 * spread) << what;
      ++compared;
    }
    ASSERT_TRUE(bi.restricted_estimated.has_value());
    const double spread = bi.restricted_estimated->p95 - bi.restricted_estimated->p05;
    EXPECT_NEAR(bi.restricted_estimated->p50, ref.restricted_p50[b], 0.2 * spread) << bi.band.name;
  }
  EXPECT_GE(compared, 25);
}

}  // namespace
}  // namespace agegate

namespace agegate {
namespace {

// The camera's confusion for the insights comes from photos the model never
// trained on: the shipped model is cross-fitted (no validation part of its
// own), so its held-out part, all 1,139 photos of it, counted once each.
TEST(RetailSample, TheShippedCrossFittedModelsConfusionComesFromItsHeldOutPart) {
  const auto model = std::filesystem::path(AGEGATE_TEST_SOURCE_DIR) / "models" / "agegate.agm";
  const BandConfusion c = confusion_from_model(model, testing::faces_dir(), marketing_age_bands());
  EXPECT_NE(c.source.find("held-out part"), std::string::npos) << c.source;
  EXPECT_NE(c.source.find("(1139 photos)"), std::string::npos) << c.source;
  // Rows are true bands: the held-out photos aged 19 and over, each once.
  std::map<std::string, int> age_of;
  for (const LabelRow& r : read_labels(testing::faces_dir()).rows) age_of[r.file_name] = r.age;
  int64_t adults = 0;
  const SplitNames split = read_model_info(model).record.data.split;
  ASSERT_EQ(split.at("test").size(), 1139u);
  for (const std::string& name : split.at("test")) {
    ASSERT_EQ(age_of.count(name), 1u) << name;
    adults += age_of[name] >= 19;
  }
  int64_t total = 0, diagonal = 0;
  for (size_t i = 0; i < c.counts.size(); ++i) {
    for (size_t j = 0; j < c.counts[i].size(); ++j) total += c.counts[i][j];
    diagonal += c.counts[i][i];
  }
  EXPECT_EQ(total, adults);
  EXPECT_GT(diagonal, total / 3);  // a camera that estimates, not noise
}

}  // namespace
}  // namespace agegate
