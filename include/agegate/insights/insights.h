// What each age group buys: purchase insights, recommendations and their
// held-out evaluation, from the retail data in the checkout database
// (store/retail.h), with the camera's age-band error taken into account.
//
//   InsightsOptions o;                         // marketing bands, support >= 20 baskets, top 5
//   BandConfusion c = read_band_confusion("predictions_val.csv", o.bands);  // or confusion_from_model()
//   InsightsResult r = compute_insights(*store->retail_counts(), o, &c);  // counted by the database
//   write_insights_report(r, "insights/", ChartOptions{});   // index.html, insights.json, charts
//   Recommender rec = recommender_from(r);                   // what `recommend` and the service answer
//
// Definitions (baskets are the unit; a basket's band is its household's):
//   P(c | band)   share of the band's baskets holding a line of category c
//   lift          P(c | band) / P(c), P(c) over every basket with a band
//   ci95          Katz log interval for the ratio, with the covariance of a
//                 band that is part of the whole (delta method)
//   supported     at least `min_support` of the band's baskets hold c: at 20
//                 the count's relative error is about 22% and a lift's 95%
//                 interval spans about x/÷1.5, the least that tells 1.5 from 1
//   over-indexed  supported and ci95 above 1
//   recommended   the first top_k of the band's categories by the ranking
//                 (Ranking below): chosen on the weeks before the held-out
//                 ones by default, or given
// Restricted goods (beer, wine, spirits) are never recommended to a band
// whose youngest age is below the challenge age, nor for an age below it.
// Pure functions of their inputs; thread-safe; Recommender is immutable.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agegate/core/age_band.h"
#include "agegate/policy/policy.h"
#include "agegate/recommend/recommender.h"
#include "agegate/report/chart.h"
#include "agegate/store/retail.h"
#include "agegate/store/retail_counts.h"

namespace agegate {

// How a band's categories are ranked for the till (insights.h's header):
//   lift      over-indexed (interval above 1) by lift: most band-specific, rarely bought
//   uplift    by P(c | band) - P(c), at least min_support of the band's baskets
//   contrast  by (P(c | band) - P(c | other bands)) * sqrt(P(c | band) / P(c | other bands)),
//             at least min_support of the band's baskets
//   auto      the one chosen on the weeks before the held-out ones (HoldoutEvaluation::selection)
enum class Ranking { kAuto, kLift, kUplift, kContrast };
inline constexpr Ranking kRankings[] = {Ranking::kAuto, Ranking::kLift, Ranking::kUplift, Ranking::kContrast};
const char* to_string(Ranking r);  // "auto", "lift", "uplift", "contrast"

struct InsightsOptions {
  std::vector<AgeBand> bands = marketing_age_bands();
  int min_support = 20;           // band baskets holding a category before it is ranked
  int top_k = 5;                  // recommendations per band
  int examples = 3;               // example products per recommended category
  int challenge_age = Policy{}.challenge_age;  // no restricted goods below it
  int holdout_weeks = 8;          // the last weeks, held out for the evaluation
  int resamples = 200;            // band resamples through the camera's confusion
  int min_department_baskets = 50;  // departments shown in the heat map
  Ranking ranking = Ranking::kAuto;
  uint64_t seed = 42;
  nlohmann::json to_json() const;
};

// How the camera's estimate falls into bands: counts[t][e] photos whose true
// age is in band t were estimated in band e; e == bands.size() is "outside
// every band" (a 19-24 estimated at 17 has no marketing band).
struct BandConfusion {
  std::vector<AgeBand> bands;
  std::vector<std::vector<int64_t>> counts;
  std::string source;  // where the predictions came from
  bool empty() const;
  nlohmann::json to_json() const;
};
// From (true age, estimated age) pairs; an estimate falls in the band of its
// whole years.
BandConfusion band_confusion(const std::vector<std::pair<int, double>>& true_and_estimated,
                             const std::vector<AgeBand>& bands, std::string source);
// From a predictions CSV (columns real_age, pred_age: `agegate evaluate
// --predictions`, or a training run's predictions_val.csv).
BandConfusion read_band_confusion(const std::filesystem::path& predictions_csv, const std::vector<AgeBand>& bands);
// Runs `model` on the validation part of `data_dir` that it was trained with
// (its recorded split; the held-out part when it has no validation part, as a
// cross-fitted model) and counts the confusion. Warns when the
// data's fingerprint differs from the model's. ModelError, IoError.
BandConfusion confusion_from_model(const std::filesystem::path& model, const std::filesystem::path& data_dir,
                                   const std::vector<AgeBand>& bands);

struct Lift {
  std::string name;        // category or department
  std::string department;  // a category's department
  bool restricted = false;
  int64_t band_with = 0;   // band baskets holding it
  int64_t band_baskets = 0;
  int64_t all_with = 0;    // baskets with a band holding it
  int64_t all_baskets = 0;
  double lift = 0, low = 0, high = 0;
  bool supported = false;
  bool over = false;       // supported and low > 1
  double share() const;    // P(c | band)
  nlohmann::json to_json() const;
};
// Lift and its interval from the four counts.
Lift make_lift(std::string name, int64_t band_with, int64_t band_baskets, int64_t all_with, int64_t all_baskets,
               int min_support);

struct ExampleProduct {
  std::string id;
  std::string type;
  std::string brand;
  int64_t baskets = 0;  // band baskets holding it
};

// 5th, 50th and 95th percentiles over the resamples.
struct Spread {
  double p05 = 0, p50 = 0, p95 = 0;
  nlohmann::json to_json() const;
};

struct Recommendation {
  Lift lift;
  std::vector<ExampleProduct> examples;
  // With estimated bands (absent without a confusion): the share of resamples
  // in which the category stays in the band's top k, and its lift there.
  // robust: kept in at least half and the lift's 5th percentile > 1.
  std::optional<double> kept;
  Spread estimated_lift;
  bool robust = true;
  nlohmann::json to_json() const;
};

struct BandInsights {
  AgeBand band;
  int64_t households = 0;
  int64_t baskets = 0;
  int64_t lines = 0;
  double spend = 0;
  double restricted_spend = 0;
  double restricted_low = 0, restricted_high = 0;  // 95% interval of the spend share (baskets resampled analytically)
  std::vector<Lift> categories;   // every category the band bought, by lift (supported first)
  std::vector<Lift> departments;  // by lift
  // Over-indexed categories by lift, restricted ones included where allowed
  // (the Recommender filters again for an age); the first top_k are the band's
  // recommendations.
  std::vector<Recommendation> ranked;
  // With estimated bands: the restricted spend share over the resamples.
  std::optional<Spread> restricted_estimated;
  double restricted_share() const;
  nlohmann::json to_json(int top_k) const;
};

// Held-out weeks: does each band's list hit its own baskets (a basket holding
// one of the k categories) more often than the overall best sellers?
struct HoldoutMethod {
  std::string name;       // "band_lift" (the recommendations), "band_best_sellers", "overall_best_sellers"
  int64_t hits = 0;       // held-out baskets with a band holding one of their band's k
  int64_t baskets = 0;
  std::vector<std::pair<int64_t, int64_t>> by_band;        // hits, baskets
  std::vector<std::pair<int64_t, int64_t>> other_by_band;  // band b's list on other bands' baskets
  // Band b's list on the other bands' baskets, averaged with the weights of
  // the own baskets: what the lists would hit if they did not fit their band.
  double other_rate() const;
  double own_rate() const;
  nlohmann::json to_json() const;
};
// The choice of the recommendations' ranking, made on the weeks before the
// held-out ones only: each ranking is learnt on the weeks before
// first_week and scored on first_week .. last_week (as many weeks as are
// held out). Eligible: own/other bands ratio >= 1.2 and a hit rate at least
// half the band's best sellers'; the eligible one with the most hits wins,
// and without one the lift ranking (the most band-specific) stays.
struct RankingSelection {
  int first_week = 0, last_week = 0;  // 0: too few weeks to choose; lift kept
  std::vector<HoldoutMethod> methods;  // band_lift, band_uplift, band_contrast, band_best_sellers
  std::string chosen;                  // "lift", "uplift" or "contrast"
  std::string why;
  nlohmann::json to_json() const;
};

struct HoldoutEvaluation {
  int first_week = 0;  // held-out weeks: first_week .. last_week
  int last_week = 0;
  int64_t train_baskets = 0;
  int64_t test_baskets = 0;
  int k = 0;
  std::vector<HoldoutMethod> methods;
  RankingSelection selection;
  nlohmann::json to_json() const;
};

struct InsightsResult {
  InsightsOptions options;
  int64_t lines = 0;
  int64_t baskets = 0;
  int64_t banded_baskets = 0;
  int64_t unbanded_lines = 0;      // household without a (mapped) band
  int64_t unknown_product_lines = 0;
  int64_t restricted_lines = 0;
  double spend = 0;
  std::vector<std::string> band_warnings;  // a household band that straddles the analysis bands
  std::vector<BandInsights> bands;         // every analysis band, empty ones included
  std::vector<std::string> heat_departments;
  std::optional<BandConfusion> confusion;
  HoldoutEvaluation evaluation;
  std::string ranking;  // the recommendations' ranking: "lift", "uplift" or "contrast"
  double seconds = 0;
  nlohmann::json to_json() const;
};

// From the counts (retail_counts.h): the database's GROUP BY aggregates, so
// memory grows with bands x categories, not with lines. The camera-confusion
// redraws work on per-band counts (band_redraw.h).
InsightsResult compute_insights(const RetailCounts& counts, const InsightsOptions& options,
                                const BandConfusion* confusion);
// The same from data in memory (retail_counts_of()).
InsightsResult compute_insights(const RetailData& data, const InsightsOptions& options, const BandConfusion* confusion);

// dir/index.html, dir/insights.json, dir/recommendations.json (Recommender's
// file) and charts. IoError when the folder cannot be written or gnuplot fails.
void write_insights_report(const InsightsResult& result, const std::filesystem::path& dir, const ChartOptions& charts);

// The recommendations of `result` (what `recommend` and the service answer;
// write_insights_report saves them as recommendations.json).
Recommender recommender_from(const InsightsResult& result);

}  // namespace agegate
