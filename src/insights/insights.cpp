// Purchase insights by age band; see insights/insights.h.
#include "agegate/insights/insights.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/enum_names.h"
#include "agegate/core/log.h"
#include "agegate/core/numeric.h"
#include "agegate/core/share.h"
#include "agegate/insights/band_redraw.h"

namespace agegate {
namespace {
using json = nlohmann::json;

constexpr double kContinuity = 0.5;     // a zero count in the lift's interval
constexpr double kKeptForRobust = 0.5;

struct Index {
  std::vector<std::string> categories, departments;
  std::vector<std::string> category_department;
  std::vector<bool> category_restricted;
  std::map<std::string, int> category_id, department_id;
};

// Baskets holding each category / department, per band and over all banded
// baskets.
struct Counts {
  std::vector<int64_t> band_baskets;                // [band]
  int64_t all_baskets = 0;
  std::vector<std::vector<int64_t>> band_category;  // [band][category]
  std::vector<int64_t> all_category;
  std::vector<std::vector<int64_t>> band_department;
  std::vector<int64_t> all_department;
};

// The band's over-indexed categories by lift, restricted ones dropped where
// the band is below the challenge age: indices into Index::categories.
std::vector<int> rank_band(const Counts& c, size_t band, const Index& ix, const InsightsOptions& o,
                           bool allow_restricted, std::vector<Lift>* lifts_out) {
  std::vector<Lift> lifts;
  std::vector<int> ids;
  for (size_t k = 0; k < ix.categories.size(); ++k) {
    if (c.band_category[band][k] == 0) continue;
    Lift l = make_lift(ix.categories[k], c.band_category[band][k], c.band_baskets[band], c.all_category[k],
                       c.all_baskets, o.min_support);
    l.department = ix.category_department[k];
    l.restricted = ix.category_restricted[k];
    lifts.push_back(std::move(l));
    ids.push_back(static_cast<int>(k));
  }
  std::vector<size_t> order(lifts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (lifts[a].supported != lifts[b].supported) return lifts[a].supported;
    if (lifts[a].lift != lifts[b].lift) return lifts[a].lift > lifts[b].lift;
    return lifts[a].name < lifts[b].name;
  });
  std::vector<int> ranked;
  if (lifts_out) lifts_out->clear();
  for (size_t i : order) {
    if (lifts[i].over && (allow_restricted || !lifts[i].restricted)) ranked.push_back(ids[i]);
    if (lifts_out) lifts_out->push_back(lifts[i]);
  }
  return ranked;
}

// Categories by baskets holding them (best sellers), restricted ones dropped
// unless allowed.
std::vector<int> best_sellers(const std::vector<int64_t>& holding, const Index& ix, bool allow_restricted, int k) {
  std::vector<int> ids;
  for (size_t i = 0; i < holding.size(); ++i) {
    if (holding[i] > 0 && (allow_restricted || !ix.category_restricted[i])) ids.push_back(static_cast<int>(i));
  }
  std::sort(ids.begin(), ids.end(), [&](int a, int b) {
    return holding[a] != holding[b] ? holding[a] > holding[b] : ix.categories[a] < ix.categories[b];
  });
  if (ids.size() > static_cast<size_t>(k)) ids.resize(k);
  return ids;
}

// Categories by absolute uplift, P(c | band) - P(c): how many more of the
// band's baskets hold the category than of all baskets. It trades the lift
// ranking's specificity (rare categories the band over-buys) against the
// best sellers' reach. Only categories with min_support of the band's
// baskets and a positive uplift; restricted ones dropped unless allowed.
std::vector<int> uplift_ranking(const Counts& c, size_t band, const Index& ix, const InsightsOptions& o,
                                bool allow_restricted) {
  std::vector<std::pair<double, int>> scored;
  if (c.band_baskets[band] == 0 || c.all_baskets == 0) return {};
  for (size_t k = 0; k < ix.categories.size(); ++k) {
    if (c.band_category[band][k] < o.min_support || (!allow_restricted && ix.category_restricted[k])) continue;
    const double uplift = double(c.band_category[band][k]) / double(c.band_baskets[band]) -
                          double(c.all_category[k]) / double(c.all_baskets);
    if (uplift > 0) scored.push_back({uplift, static_cast<int>(k)});
  }
  std::sort(scored.begin(), scored.end(), [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : ix.categories[a.second] < ix.categories[b.second];
  });
  std::vector<int> ids;
  for (const auto& x : scored) ids.push_back(x.second);
  return ids;
}

// Categories by (P(c | band) - P(c | other bands)) * sqrt(P(c | band) /
// P(c | other bands)): the gap to the other bands' baskets (not to all,
// which hold the band itself), leaning towards the relative gap. At least
// min_support of the band's baskets; restricted ones dropped unless allowed.
std::vector<int> contrast_ranking(const Counts& c, size_t band, const Index& ix, const InsightsOptions& o,
                                  bool allow_restricted) {
  std::vector<std::pair<double, int>> scored;
  const int64_t others = c.all_baskets - c.band_baskets[band];
  if (c.band_baskets[band] == 0 || others <= 0) return {};
  for (size_t k = 0; k < ix.categories.size(); ++k) {
    if (c.band_category[band][k] < o.min_support || (!allow_restricted && ix.category_restricted[k])) continue;
    const double p1 = double(c.band_category[band][k]) / double(c.band_baskets[band]);
    const double p0 = double(c.all_category[k] - c.band_category[band][k]) / double(others);
    if (p1 <= p0) continue;
    scored.push_back({(p1 - p0) * std::sqrt(p1 / std::max(p0, 0.5 / double(others))), static_cast<int>(k)});
  }
  std::sort(scored.begin(), scored.end(), [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : ix.categories[a.second] < ix.categories[b.second];
  });
  std::vector<int> ids;
  for (const auto& x : scored) ids.push_back(x.second);
  return ids;
}

// A band's categories by a ranking, best first (every eligible one).
std::vector<int> rank_by(Ranking m, const Counts& c, size_t band, const Index& ix, const InsightsOptions& o,
                         bool allow_restricted) {
  switch (m) {
    case Ranking::kUplift: return uplift_ranking(c, band, ix, o, allow_restricted);
    case Ranking::kContrast: return contrast_ranking(c, band, ix, o, allow_restricted);
    default: return rank_band(c, band, ix, o, allow_restricted, nullptr);
  }
}

std::vector<int> top(std::vector<int> ids, int k) {
  if (ids.size() > static_cast<size_t>(k)) ids.resize(static_cast<size_t>(k));
  return ids;
}

// Restricted spend share of a band's baskets with a 95% interval from the
// ratio estimator's linearisation (baskets are the sampling unit), from the
// sums over the band's baskets: sum (r - ratio s)^2 expanded in the second
// moments.
void restricted_share_interval(const RetailBandRow& m, BandInsights* out) {
  const double s = m.spend, r = m.restricted_spend;
  const int64_t n = m.baskets;
  if (n < 2 || s <= 0) {
    out->restricted_low = out->restricted_high = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  const double ratio = r / s;
  const double ss = std::max(0.0, m.restricted_sq - 2 * ratio * m.spend_restricted + ratio * ratio * m.spend_sq);
  const double se = std::sqrt(ss * double(n) / double(n - 1)) / s;
  out->restricted_low = std::max(0.0, ratio - kZ95 * se);
  out->restricted_high = std::min(1.0, ratio + kZ95 * se);
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
}

json share_json(int64_t hits, int64_t n) { return Share{hits, n}.to_json(); }

bool allows_restricted(const AgeBand& band, int challenge_age) { return band.low >= challenge_age; }

}  // namespace

const char* to_string(Ranking r) {
  switch (r) {
    case Ranking::kAuto: return "auto";
    case Ranking::kLift: return "lift";
    case Ranking::kUplift: return "uplift";
    case Ranking::kContrast: return "contrast";
  }
  return "?";
}

json RankingSelection::to_json() const {
  json m = json::array();
  for (const auto& x : methods) m.push_back(x.to_json());
  return {{"weeks", first_week ? json({first_week, last_week}) : json(nullptr)},
          {"chosen", chosen},
          {"why", why},
          {"methods", m},
          {"rule", "Each ranking is learnt on the weeks before these and scored on them, as the held-out evaluation "
                   "does on the held-out weeks; eligible: own/other >= 1.2 and at least half the band best sellers' "
                   "hit rate; the eligible one with the most hits is chosen, else the lift ranking."}};
}

json InsightsOptions::to_json() const {
  std::vector<std::string> names;
  for (const auto& b : bands) names.push_back(b.name);
  return {{"bands", names},
          {"min_support", min_support},
          {"top_k", top_k},
          {"examples", examples},
          {"challenge_age", challenge_age},
          {"holdout_weeks", holdout_weeks},
          {"resamples", resamples},
          {"min_department_baskets", min_department_baskets},
          {"ranking", to_string(ranking)},
          {"seed", seed}};
}

// ---- confusion ----

bool BandConfusion::empty() const {
  for (const auto& row : counts) {
    for (int64_t v : row) {
      if (v > 0) return false;
    }
  }
  return true;
}

json BandConfusion::to_json() const {
  std::vector<std::string> names;
  for (const auto& b : bands) names.push_back(b.name);
  names.push_back("outside");
  return {{"bands", names}, {"counts", counts}, {"source", source}};
}

BandConfusion band_confusion(const std::vector<std::pair<int, double>>& true_and_estimated,
                             const std::vector<AgeBand>& bands, std::string source) {
  BandConfusion c;
  c.bands = bands;
  c.source = std::move(source);
  c.counts.assign(bands.size(), std::vector<int64_t>(bands.size() + 1, 0));
  for (const auto& [age, estimate] : true_and_estimated) {
    const int t = find_band(bands, age);
    if (t < 0 || !std::isfinite(estimate)) continue;  // a true age no band covers tells nothing here
    const int e = find_band(bands, static_cast<int>(std::floor(estimate)));
    c.counts[t][e < 0 ? bands.size() : static_cast<size_t>(e)]++;
  }
  return c;
}

// ---- lift ----

double Lift::share() const { return band_baskets ? double(band_with) / double(band_baskets) : 0; }

Lift make_lift(std::string name, int64_t band_with, int64_t band_baskets, int64_t all_with, int64_t all_baskets,
               int min_support) {
  AGEGATE_CHECK(band_with <= band_baskets && all_with <= all_baskets && band_with <= all_with, "lift counts");
  Lift l;
  l.name = std::move(name);
  l.band_with = band_with, l.band_baskets = band_baskets, l.all_with = all_with, l.all_baskets = all_baskets;
  if (band_baskets == 0 || all_with == 0) return l;
  const double p1 = double(band_with) / double(band_baskets), p = double(all_with) / double(all_baskets);
  l.lift = p1 / p;
  // log L = log p1 - log p; the band is part of the whole, so
  // Cov(log p1, log p) = (1 - p1) / x and
  // Var(log L) = (1 - p1)/x1 + (1 - p)/x - 2 (1 - p1)/x.
  const double x1 = band_with > 0 ? double(band_with) : kContinuity, x = double(all_with);
  const double var = std::max(0.0, (1 - p1) / x1 + (1 - p) / x - 2 * (1 - p1) / x);
  const double centre = band_with > 0 ? std::log(l.lift) : std::log(kContinuity / double(band_baskets) / p);
  l.low = band_with > 0 ? std::exp(centre - kZ95 * std::sqrt(var)) : 0.0;
  l.high = std::exp(centre + kZ95 * std::sqrt(var));
  l.supported = band_with >= min_support;
  l.over = l.supported && l.low > 1;
  return l;
}

json Lift::to_json() const {
  json j = {{"name", name},
            {"lift", lift},
            {"ci95", {low, high}},
            {"support", {{"band_baskets_with", band_with}, {"band_baskets", band_baskets}, {"share", share()}}},
            {"all", {{"baskets_with", all_with}, {"baskets", all_baskets}}},
            {"supported", supported},
            {"over_indexed", over},
            {"restricted", restricted}};
  if (!department.empty()) j["department"] = department;
  return j;
}

json Recommendation::to_json() const {
  json j = lift.to_json();
  j["category"] = lift.name;
  json ex = json::array();
  for (const auto& e : examples) ex.push_back({{"product_id", e.id}, {"type", e.type}, {"brand", e.brand}, {"band_baskets", e.baskets}});
  j["examples"] = ex;
  if (kept) j["estimated_bands"] = {{"kept_in_top_k", *kept}, {"lift", estimated_lift.to_json()}};
  j["robust"] = robust;
  return j;
}

json Spread::to_json() const { return {{"p05", p05}, {"p50", p50}, {"p95", p95}}; }

Spread spread_of(const std::vector<double>& v) {
  return {percentile(v, 0.05), percentile(v, 0.5), percentile(v, 0.95)};
}

double BandInsights::restricted_share() const { return spend > 0 ? restricted_spend / spend : 0; }

json BandInsights::to_json(int top_k) const {
  json cats = json::array(), deps = json::array(), recs = json::array();
  for (const auto& l : categories) {
    if (l.supported) cats.push_back(l.to_json());
  }
  for (const auto& l : departments) deps.push_back(l.to_json());
  for (size_t i = 0; i < ranked.size() && i < static_cast<size_t>(top_k); ++i) recs.push_back(ranked[i].to_json());
  json j = {{"band", band.name},
            {"households", households},
            {"baskets", baskets},
            {"lines", lines},
            {"spend", spend},
            {"mean_basket_lines", baskets ? json(double(lines) / double(baskets)) : json(nullptr)},
            {"mean_basket_spend", baskets ? json(spend / double(baskets)) : json(nullptr)},
            {"restricted_spend_share",
             {{"share", restricted_share()}, {"ci95", {number_or_null(restricted_low), number_or_null(restricted_high)}}}},
            {"categories_supported", cats},
            {"departments", deps},
            {"recommendations", recs}};
  if (restricted_estimated) {
    j["restricted_spend_share"]["estimated_bands"] = restricted_estimated->to_json();
  }
  return j;
}

double HoldoutMethod::own_rate() const {
  return baskets ? double(hits) / double(baskets) : std::numeric_limits<double>::quiet_NaN();
}

double HoldoutMethod::other_rate() const {
  double sum = 0;
  int64_t weight = 0;
  for (size_t b = 0; b < by_band.size(); ++b) {
    const auto [h, n] = other_by_band[b];
    if (by_band[b].second == 0 || n == 0) continue;
    sum += double(by_band[b].second) * double(h) / double(n);
    weight += by_band[b].second;
  }
  return weight ? sum / double(weight) : std::numeric_limits<double>::quiet_NaN();
}

json HoldoutMethod::to_json() const {
  json by = json::array();
  for (size_t b = 0; b < by_band.size(); ++b) {
    by.push_back({{"own", share_json(by_band[b].first, by_band[b].second)},
                  {"other_bands", share_json(other_by_band[b].first, other_by_band[b].second)}});
  }
  json j = {{"method", name}, {"hit_rate", share_json(hits, baskets)}, {"by_band", by},
            {"other_bands_rate", number_or_null(other_rate())}};
  const double other = other_rate();
  if (std::isfinite(other) && other > 0) j["own_vs_other"] = own_rate() / other;
  return j;
}

json HoldoutEvaluation::to_json() const {
  json m = json::array();
  for (const auto& x : methods) m.push_back(x.to_json());
  return {{"held_out_weeks", {first_week, last_week}},
          {"train_baskets", train_baskets},
          {"test_baskets", test_baskets},
          {"k", k},
          {"methods", m},
          {"ranking_selection", selection.to_json()},
          {"method",
           "Insights are recomputed on the weeks before the held-out ones. A held-out basket with a band is a hit "
           "when it holds a line of one of the k categories its band's list names. band_lift: the recommendations "
           "(over-indexed categories by lift); band_best_sellers: the band's own k most bought categories; "
           "overall_best_sellers: the k most bought categories of all shoppers; band_uplift: the k categories whose share of "
           "the band's baskets exceeds their share of all baskets by most (P(c | band) - P(c), at least min_support "
           "of the band's baskets); band_contrast: the k categories with the largest (P(c | band) - P(c | other "
           "bands)) * sqrt(P(c | band) / P(c | other bands)) (same support). Restricted goods are left out of "
           "every list for a band below the challenge age. other_bands_rate: each band's list scored on the other "
           "bands' held-out baskets, averaged with the weights of its own baskets; own_vs_other above 1 means "
           "the lists fit their own band better than the others."}};
}

json InsightsResult::to_json() const {
  json b = json::array();
  for (const auto& x : bands) b.push_back(x.to_json(options.top_k));
  json j = {{"options", options.to_json()},
            {"lines", lines},
            {"baskets", baskets},
            {"baskets_with_band", banded_baskets},
            {"lines_without_band", unbanded_lines},
            {"lines_unknown_product", unknown_product_lines},
            {"restricted_lines", restricted_lines},
            {"spend", spend},
            {"band_warnings", band_warnings},
            {"bands", b},
            {"heat_map_departments", heat_departments},
            {"ranking", ranking},
            {"evaluation", evaluation.to_json()},
            {"seconds", seconds}};
  j["confusion"] = confusion ? confusion->to_json() : json(nullptr);
  return j;
}

// ---- the computation ----

namespace {

// What the phases share. Counts come from the database's aggregates
// (store/retail_counts.h), mapped from the data's bands to the analysis bands.
struct Analysis {
  const RetailCounts& counts;
  const InsightsOptions& o;
  size_t nb = 0;
  std::map<std::string, int> band_of;  // the data's band -> analysis band (-1: none)
  Index ix;
  Counts all, train;                   // every week; the weeks before the held-out ones
  std::vector<RetailBandRow> totals;   // per analysis band, every week
  std::vector<int64_t> test_baskets;   // held-out baskets holding a category, per band
  int first_week = 0, last_week = 0;
  Ranking ranking = Ranking::kLift;    // the recommendations' (never kAuto here)

  int band(const std::string& data_band) const {
    auto it = band_of.find(data_band);
    return it == band_of.end() ? -1 : it->second;
  }
};

// Phase 1: each band of the data in the analysis band set (-1: none), and
// the households per band; data bands that straddle or miss the analysis
// bands are noted in r->band_warnings.
std::vector<int64_t> map_bands(Analysis* a, InsightsResult* r) {
  std::vector<int64_t> households(a->nb, 0);
  std::vector<std::pair<std::string, int64_t>> rows = a->counts.households();
  std::sort(rows.begin(), rows.end());
  for (const auto& [name, n] : rows) {
    if (name.empty()) continue;
    const AgeBand src = parse_age_band(name, "retail_households.age_band");
    const int mapped = find_band_of(a->o.bands, src);
    const int at_low = find_band(a->o.bands, src.low);
    const int at_high = find_band(a->o.bands, std::min(src.high, src.low + kOpenEndedBandSpan));
    if (mapped >= 0 && (at_low != mapped || at_high != mapped)) {
      r->band_warnings.push_back("household band " + src.name + " straddles the analysis bands; counted as " +
                                a->o.bands[mapped].name);
    }
    if (mapped < 0) r->band_warnings.push_back("household band " + src.name + " is in no analysis band; left out");
    a->band_of[name] = mapped;
    if (mapped >= 0) households[mapped] += n;
  }
  return households;
}

// Phase 2: categories (with their department and restriction) and the
// departments bought, numbered in name order.
void index_items(Analysis* a, const std::vector<RetailItemRow>& department_rows) {
  Index& ix = a->ix;
  for (const RetailCategory& c : a->counts.categories()) {
    ix.category_id[c.name] = static_cast<int>(ix.categories.size());
    ix.categories.push_back(c.name);
    ix.category_department.push_back(c.department);
    ix.category_restricted.push_back(c.restricted);
  }
  for (const RetailItemRow& row : department_rows) ix.department_id.emplace(row.name, 0);
  for (auto& [name, id] : ix.department_id) {
    id = static_cast<int>(ix.departments.size());
    ix.departments.push_back(name);
  }
}

void add_totals(RetailBandRow* to, const RetailBandRow& row) {
  to->baskets += row.baskets, to->categorised += row.categorised, to->lines += row.lines;
  to->restricted_lines += row.restricted_lines, to->unknown_lines += row.unknown_lines;
  to->spend += row.spend, to->restricted_spend += row.restricted_spend;
  to->spend_sq += row.spend_sq, to->restricted_sq += row.restricted_sq, to->spend_restricted += row.spend_restricted;
}

// Phase 3: the database's counts, by analysis band, over every week and over
// the weeks before the held-out ones; the totals into *r.
void tally(Analysis* a, InsightsResult* r) {
  a->last_week = a->counts.last_week();
  a->first_week = a->last_week - a->o.holdout_weeks + 1;
  const std::vector<RetailItemRow> departments = a->counts.department_baskets(a->first_week);
  index_items(a, departments);
  const size_t nc = a->ix.categories.size(), nd = a->ix.departments.size();
  for (Counts* c : {&a->all, &a->train}) {
    c->band_baskets.assign(a->nb, 0);
    c->band_category.assign(a->nb, std::vector<int64_t>(nc, 0));
    c->all_category.assign(nc, 0);
    c->band_department.assign(a->nb, std::vector<int64_t>(nd, 0));
    c->all_department.assign(nd, 0);
  }
  a->totals.assign(a->nb, {});
  a->test_baskets.assign(a->nb, 0);
  for (const RetailBandRow& row : a->counts.bands(a->first_week)) {
    r->lines += row.lines, r->spend += row.spend, r->baskets += row.baskets;
    r->unknown_product_lines += row.unknown_lines, r->restricted_lines += row.restricted_lines;
    const int b = a->band(row.band);
    if (b < 0) {
      r->unbanded_lines += row.lines;
      continue;
    }
    add_totals(&a->totals[b], row);
    for (Counts* c : {&a->all, &a->train}) {
      if (c == &a->train && row.held) continue;
      c->band_baskets[b] += row.baskets, c->all_baskets += row.baskets;
    }
    if (row.held) a->test_baskets[b] += row.categorised;
  }
  auto add_items = [&](const std::vector<RetailItemRow>& rows, const std::map<std::string, int>& id,
                       std::vector<std::vector<int64_t>> Counts::*band, std::vector<int64_t> Counts::*all) {
    for (const RetailItemRow& row : rows) {
      const int b = a->band(row.band);
      auto k = id.find(row.name);
      if (b < 0 || k == id.end()) continue;
      for (Counts* c : {&a->all, &a->train}) {
        if (c == &a->train && row.held) continue;
        (c->*band)[b][k->second] += row.baskets, (c->*all)[k->second] += row.baskets;
      }
    }
  };
  add_items(a->counts.category_baskets(a->first_week), a->ix.category_id, &Counts::band_category, &Counts::all_category);
  add_items(departments, a->ix.department_id, &Counts::band_department, &Counts::all_department);
}

// The bands' most bought products of each of their ranked categories, as
// examples (most baskets first, then by id).
void add_examples(const Analysis& a, const std::vector<std::vector<int>>& ranked, InsightsResult* r) {
  std::set<std::string> wanted;
  for (const auto& ids : ranked) {
    for (int c : ids) wanted.insert(a.ix.categories[c]);
  }
  // band -> category -> product id -> example
  std::vector<std::map<std::string, std::map<std::string, ExampleProduct>>> found(a.nb);
  for (const RetailProductRow& row : a.counts.product_baskets({wanted.begin(), wanted.end()})) {
    const int b = a.band(row.band);
    if (b < 0) continue;
    ExampleProduct& e = found[b][row.category][row.id];
    e.id = row.id, e.type = row.type, e.brand = row.brand, e.baskets += row.baskets;
  }
  for (size_t b = 0; b < a.nb; ++b) {
    BandInsights& bi = r->bands[b];
    for (int c : ranked[b]) {
      Recommendation rec;
      for (const Lift& l : bi.categories) {
        if (l.name == a.ix.categories[c]) rec.lift = l;
      }
      std::vector<ExampleProduct> products;
      for (const auto& [id, e] : found[b][a.ix.categories[c]]) products.push_back(e);
      std::stable_sort(products.begin(), products.end(),
                       [](const ExampleProduct& x, const ExampleProduct& y) { return x.baskets > y.baskets; });
      if (products.size() > static_cast<size_t>(a.o.examples)) products.resize(a.o.examples);
      rec.examples = std::move(products);
      bi.ranked.push_back(std::move(rec));
    }
  }
}

// Phase 4: one band's figures with the known bands; returns its ranked category ids.
std::vector<int> band_figures(const Analysis& a, size_t b, int64_t households, BandInsights* bi) {
  const Index& ix = a.ix;
  const Counts& all = a.all;
  bi->band = a.o.bands[b];
  bi->households = households;
  bi->baskets = all.band_baskets[b];
  bi->lines = a.totals[b].lines;
  bi->spend = a.totals[b].spend;
  bi->restricted_spend = a.totals[b].restricted_spend;
  restricted_share_interval(a.totals[b], bi);
  const bool allow = allows_restricted(bi->band, a.o.challenge_age);
  std::vector<int> ranked = rank_band(all, b, ix, a.o, allow, &bi->categories);
  if (a.ranking != Ranking::kLift) ranked = rank_by(a.ranking, all, b, ix, a.o, allow);
  for (size_t d = 0; d < ix.departments.size(); ++d) {
    if (all.band_department[b][d] == 0) continue;
    bi->departments.push_back(make_lift(ix.departments[d], all.band_department[b][d], all.band_baskets[b],
                                        all.all_department[d], all.all_baskets, a.o.min_support));
  }
  std::sort(bi->departments.begin(), bi->departments.end(),
            [](const Lift& x, const Lift& y) { return x.lift != y.lift ? x.lift > y.lift : x.name < y.name; });
  return ranked;
}

// Phase 5: the departments the heat map shows, most baskets first.
std::vector<std::string> heat_departments(const Counts& all, const Index& ix, const InsightsOptions& o) {
  std::vector<std::pair<int64_t, std::string>> deps;
  for (size_t d = 0; d < ix.departments.size(); ++d) {
    if (all.all_department[d] >= o.min_department_baskets) deps.push_back({-all.all_department[d], ix.departments[d]});
  }
  std::sort(deps.begin(), deps.end());
  std::vector<std::string> out;
  for (const auto& d : deps) out.push_back(d.second);
  return out;
}

// Phase 6: the figures again with bands redrawn through the camera's
// confusion from the per-band counts (band_redraw.h): how often each
// recommendation stays in the top k, the spread of its lift, and of each
// band's restricted share.
void resample_through_confusion(const Analysis& a, const BandConfusion& confusion,
                                const std::vector<std::vector<int>>& ranked_ids, InsightsResult* r) {
  const InsightsOptions& o = a.o;
  const size_t nb = a.nb;
  std::vector<BandTotals> truth(nb);
  for (size_t b = 0; b < nb; ++b) {
    const RetailBandRow& t = a.totals[b];
    truth[b] = {a.all.band_baskets[b], a.all.band_category[b], t.spend, t.restricted_spend,
                t.spend_sq,            t.restricted_sq,        t.spend_restricted};
  }
  std::mt19937_64 rng(o.seed);
  std::vector<std::vector<int>> kept(nb);  // per band, per top-k rec: resamples kept
  std::vector<std::vector<std::vector<double>>> lifts(nb);
  std::vector<std::vector<double>> restricted(nb);
  for (size_t b = 0; b < nb; ++b) {
    const size_t k = std::min(ranked_ids[b].size(), static_cast<size_t>(o.top_k));
    kept[b].assign(k, 0);
    lifts[b].assign(k, {});
  }
  for (int rep = 0; rep < o.resamples; ++rep) {
    RedrawnBands d = redraw_bands(truth, confusion, rng);
    Counts c;
    c.band_baskets = std::move(d.band_baskets), c.all_baskets = d.all_baskets;
    c.band_category = std::move(d.band_category), c.all_category = std::move(d.all_category);
    for (size_t b = 0; b < nb; ++b) {
      const std::vector<int> now = rank_by(a.ranking, c, b, a.ix, o, allows_restricted(o.bands[b], o.challenge_age));
      const size_t top = std::min(now.size(), static_cast<size_t>(o.top_k));
      for (size_t j = 0; j < kept[b].size(); ++j) {
        const int cat = ranked_ids[b][j];
        if (std::find(now.begin(), now.begin() + top, cat) != now.begin() + top) kept[b][j]++;
        const Lift l = make_lift("", c.band_category[b][cat], c.band_baskets[b], c.all_category[cat], c.all_baskets,
                                 o.min_support);
        lifts[b][j].push_back(l.lift);
      }
      if (d.spend[b] > 0) restricted[b].push_back(d.restricted[b] / d.spend[b]);
    }
  }
  for (size_t b = 0; b < nb; ++b) {
    for (size_t j = 0; j < kept[b].size(); ++j) {
      Recommendation& rec = r->bands[b].ranked[j];
      rec.kept = double(kept[b][j]) / double(o.resamples);
      rec.estimated_lift = spread_of(lifts[b][j]);
      rec.robust = *rec.kept >= kKeptForRobust && rec.estimated_lift.p05 > 1;
    }
    if (!restricted[b].empty()) r->bands[b].restricted_estimated = spread_of(restricted[b]);
  }
}

// Baskets of weeks from_week .. to_week holding one of each list's
// categories, by true band: hits[list][band], lists[m][b] flattened as
// m * nb + b.
std::vector<std::vector<int64_t>> list_hits(const Analysis& a, const std::vector<std::vector<std::vector<int>>>& lists,
                                            int from_week, int to_week) {
  std::vector<std::vector<std::string>> flat;
  for (const auto& method : lists) {
    for (const auto& list : method) {
      flat.emplace_back();
      for (int c : list) flat.back().push_back(a.ix.categories[c]);
    }
  }
  std::vector<std::vector<int64_t>> hits(flat.size(), std::vector<int64_t>(a.nb, 0));
  for (const RetailListHits& row : a.counts.list_hits(from_week, to_week, flat)) {
    const int t = a.band(row.band);
    if (t >= 0 && row.list >= 0 && static_cast<size_t>(row.list) < flat.size()) hits[row.list][t] += row.baskets;
  }
  return hits;
}

// How often each method's lists hit the scored baskets: of the band's own
// baskets, and of the other bands' baskets.
std::vector<HoldoutMethod> score_methods(const Analysis& a, const std::vector<const char*>& names,
                                         const std::vector<std::vector<int64_t>>& hits,
                                         const std::vector<int64_t>& baskets) {
  std::vector<HoldoutMethod> out;
  for (size_t m = 0; m < names.size(); ++m) {
    HoldoutMethod hm;
    hm.name = names[m];
    hm.by_band.assign(a.nb, {0, 0});
    hm.other_by_band.assign(a.nb, {0, 0});
    for (size_t b = 0; b < a.nb; ++b) {
      for (size_t t = 0; t < a.nb; ++t) {
        const int64_t h = hits[m * a.nb + b][t];
        if (t == b) {
          hm.by_band[b] = {h, baskets[t]};
          hm.hits += h, hm.baskets += baskets[t];
        } else {
          hm.other_by_band[b].first += h, hm.other_by_band[b].second += baskets[t];
        }
      }
    }
    out.push_back(std::move(hm));
  }
  return out;
}

// Counts over the weeks before `week` (categories only), and the baskets
// from `week` on that hold a category, by band.
Counts counts_before(const Analysis& a, int week, std::vector<int64_t>* later_categorised) {
  Counts c;
  const size_t nc = a.ix.categories.size();
  c.band_baskets.assign(a.nb, 0);
  c.band_category.assign(a.nb, std::vector<int64_t>(nc, 0));
  c.all_category.assign(nc, 0);
  later_categorised->assign(a.nb, 0);
  for (const RetailBandRow& row : a.counts.bands(week)) {
    const int b = a.band(row.band);
    if (b < 0) continue;
    if (row.held) (*later_categorised)[b] += row.categorised;
    else c.band_baskets[b] += row.baskets, c.all_baskets += row.baskets;
  }
  for (const RetailItemRow& row : a.counts.category_baskets(week)) {
    const int b = a.band(row.band);
    auto k = a.ix.category_id.find(row.name);
    if (b < 0 || row.held || k == a.ix.category_id.end()) continue;
    c.band_category[b][k->second] += row.baskets, c.all_category[k->second] += row.baskets;
  }
  return c;
}

const Ranking kChoices[] = {Ranking::kLift, Ranking::kUplift, Ranking::kContrast};
constexpr double kMinOwnOverOther = 1.2;     // band-specific enough for the till
constexpr double kMinShareOfBestSellers = 0.5;  // and bought often enough

// The ranking chosen on the weeks before the held-out ones (RankingSelection).
RankingSelection select_ranking(const Analysis& a) {
  const InsightsOptions& o = a.o;
  RankingSelection sel;
  sel.chosen = to_string(Ranking::kLift);
  const int first = a.first_week - o.holdout_weeks;
  if (first < 2) {
    sel.why = "fewer than twice the held-out weeks before them: the lift ranking is kept";
    return sel;
  }
  sel.first_week = first, sel.last_week = a.first_week - 1;
  std::vector<int64_t> later;
  const Counts fit = counts_before(a, first, &later);
  std::vector<int64_t> baskets(a.nb);
  for (size_t b = 0; b < a.nb; ++b) baskets[b] = later[b] - a.test_baskets[b];  // first .. first_week - 1
  std::vector<std::vector<std::vector<int>>> lists(4, std::vector<std::vector<int>>(a.nb));
  for (size_t b = 0; b < a.nb; ++b) {
    const bool allow = allows_restricted(o.bands[b], o.challenge_age);
    for (size_t m = 0; m < 3; ++m) lists[m][b] = top(rank_by(kChoices[m], fit, b, a.ix, o, allow), o.top_k);
    lists[3][b] = best_sellers(fit.band_category[b], a.ix, allow, o.top_k);
  }
  const std::vector<std::vector<int64_t>> hits = list_hits(a, lists, first, a.first_week - 1);
  sel.methods = score_methods(a, {"band_lift", "band_uplift", "band_contrast", "band_best_sellers"}, hits, baskets);
  const double best_sellers = sel.methods[3].own_rate();
  int pick = -1;
  for (int m = 0; m < 3; ++m) {
    const HoldoutMethod& hm = sel.methods[m];
    const double ratio = hm.own_rate() / hm.other_rate();
    if (!(ratio >= kMinOwnOverOther && hm.own_rate() >= kMinShareOfBestSellers * best_sellers)) continue;
    if (pick < 0 || hm.hits > sel.methods[pick].hits) pick = m;
  }
  if (pick < 0) {
    sel.why = "no ranking reached own/other >= 1.2 with half the best sellers' hit rate: the lift ranking is kept";
  } else {
    sel.chosen = to_string(kChoices[pick]);
    sel.why = "the most hits among the rankings with own/other >= 1.2 and half the best sellers' hit rate";
  }
  return sel;
}

constexpr const char* kMethods[] = {"band_lift",   "band_best_sellers", "overall_best_sellers",
                                    "band_uplift", "band_contrast"};
constexpr size_t kMethodCount = sizeof(kMethods) / sizeof(kMethods[0]);

// Phase 7: the last holdout_weeks held out; the band's lift ranking, the
// band's best sellers, the overall best sellers, the uplift and contrast
// rankings, learnt on the weeks before, scored on them.
HoldoutEvaluation holdout_evaluation(const Analysis& a) {
  const InsightsOptions& o = a.o;
  HoldoutEvaluation ev;
  ev.k = o.top_k;
  ev.last_week = a.last_week;
  ev.first_week = a.first_week;
  const Counts& c = a.train;
  ev.train_baskets = c.all_baskets;
  std::vector<std::vector<std::vector<int>>> lists(kMethodCount, std::vector<std::vector<int>>(a.nb));
  for (size_t b = 0; b < a.nb; ++b) {
    const bool allow = allows_restricted(o.bands[b], o.challenge_age);
    lists[0][b] = top(rank_band(c, b, a.ix, o, allow, nullptr), o.top_k);
    lists[1][b] = best_sellers(c.band_category[b], a.ix, allow, o.top_k);
    lists[2][b] = best_sellers(c.all_category, a.ix, allow, o.top_k);
    lists[3][b] = top(uplift_ranking(c, b, a.ix, o, allow), o.top_k);
    lists[4][b] = top(contrast_ranking(c, b, a.ix, o, allow), o.top_k);
  }
  ev.methods = score_methods(a, {std::begin(kMethods), std::end(kMethods)}, list_hits(a, lists, a.first_week, a.last_week),
                             a.test_baskets);
  ev.test_baskets = ev.methods.front().baskets;
  return ev;
}

void check_options(const InsightsOptions& o, const BandConfusion* confusion) {
  if (o.bands.empty()) throw InvalidInput("insights: no age bands");
  if (o.min_support < 1) throw InvalidInput("insights: --min-support must be >= 1");
  if (o.top_k < 1) throw InvalidInput("insights: --k must be >= 1");
  if (o.holdout_weeks < 1) throw InvalidInput("insights: --holdout-weeks must be >= 1");
  if (o.resamples < 0) throw InvalidInput("insights: --resamples must be >= 0");
  if (confusion && confusion->bands.size() != o.bands.size()) {
    throw InvalidInput("insights: the confusion's bands differ from the insights' bands");
  }
}

}  // namespace

InsightsResult compute_insights(const RetailCounts& counts, const InsightsOptions& o, const BandConfusion* confusion) {
  const auto t0 = std::chrono::steady_clock::now();
  check_options(o, confusion);
  InsightsResult r;
  r.options = o;
  Analysis a{counts, o, o.bands.size(), {}, {}, {}, {}, {}, {}, 0, 0, Ranking::kLift};
  const std::vector<int64_t> households = map_bands(&a, &r);
  tally(&a, &r);
  RankingSelection selection;
  if (o.ranking == Ranking::kAuto) {
    selection = select_ranking(a);
    a.ranking = parse_enum_name(selection.chosen, kRankings, "ranking");
  } else {
    a.ranking = o.ranking;
    selection.chosen = to_string(o.ranking);
    selection.why = "given by the options, not chosen";
  }
  r.ranking = selection.chosen;
  r.banded_baskets = a.all.all_baskets;
  std::vector<std::vector<int>> ranked_ids(a.nb);
  for (size_t b = 0; b < a.nb; ++b) {
    BandInsights bi;
    ranked_ids[b] = band_figures(a, b, households[b], &bi);
    r.bands.push_back(std::move(bi));
  }
  add_examples(a, ranked_ids, &r);
  r.heat_departments = heat_departments(a.all, a.ix, o);
  if (confusion && !confusion->empty() && o.resamples > 0) {
    r.confusion = *confusion;
    resample_through_confusion(a, *confusion, ranked_ids, &r);
  }
  r.evaluation = holdout_evaluation(a);
  r.evaluation.selection = std::move(selection);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

InsightsResult compute_insights(const RetailData& data, const InsightsOptions& o, const BandConfusion* confusion) {
  return compute_insights(*retail_counts_of(data), o, confusion);
}

// ---- recommender ----

Recommender recommender_from(const InsightsResult& r) {
  std::vector<AgeBand> bands;
  std::vector<std::vector<json>> ranked;
  for (const auto& b : r.bands) {
    bands.push_back(b.band);
    std::vector<json> items;
    for (const auto& x : b.ranked) items.push_back(x.to_json());
    ranked.push_back(std::move(items));
  }
  json source = {{"options", r.options.to_json()},
                 {"lines", r.lines},
                 {"baskets_with_band", r.banded_baskets},
                 {"ranking", r.ranking},
                 {"estimated_bands", r.confusion ? json(r.confusion->source) : json(nullptr)}};
  return Recommender(std::move(bands), std::move(ranked), std::move(source));
}

}  // namespace agegate
