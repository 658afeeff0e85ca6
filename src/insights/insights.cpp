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
#include "agegate/core/log.h"
#include "agegate/core/numeric.h"
#include "agegate/core/share.h"

namespace agegate {
namespace {
using json = nlohmann::json;

constexpr double kContinuity = 0.5;     // a zero count in the lift's interval
constexpr double kDirichletPrior = 0.5;  // Jeffreys prior on each confusion row
constexpr double kKeptForRobust = 0.5;

// One basket: what the insights count.
struct Basket {
  int band = -1;  // analysis band of its household; -1 = none
  int week = 0;
  int64_t lines = 0;
  double spend = 0, restricted_spend = 0;
  std::vector<int> categories;   // distinct, indices into Index::categories
  std::vector<int> departments;  // distinct
  std::vector<int> products;     // distinct, indices into RetailData::products
};

struct Index {
  std::vector<std::string> categories, departments;
  std::vector<std::string> category_department;
  std::vector<bool> category_restricted;
};

// Baskets holding each category / department, per band and over all banded
// baskets, for a set of baskets under a band assignment.
struct Counts {
  std::vector<int64_t> band_baskets;                // [band]
  int64_t all_baskets = 0;
  std::vector<std::vector<int64_t>> band_category;  // [band][category]
  std::vector<int64_t> all_category;
  std::vector<std::vector<int64_t>> band_department;
  std::vector<int64_t> all_department;
};

Counts count(const std::vector<Basket>& baskets, const std::vector<int>& band_of, size_t bands, const Index& ix,
             const std::vector<bool>* include) {
  Counts c;
  c.band_baskets.assign(bands, 0);
  c.band_category.assign(bands, std::vector<int64_t>(ix.categories.size(), 0));
  c.all_category.assign(ix.categories.size(), 0);
  c.band_department.assign(bands, std::vector<int64_t>(ix.departments.size(), 0));
  c.all_department.assign(ix.departments.size(), 0);
  for (size_t i = 0; i < baskets.size(); ++i) {
    const int b = band_of[i];
    if (b < 0 || (include && !(*include)[i])) continue;
    c.band_baskets[b]++;
    c.all_baskets++;
    for (int k : baskets[i].categories) c.band_category[b][k]++, c.all_category[k]++;
    for (int k : baskets[i].departments) c.band_department[b][k]++, c.all_department[k]++;
  }
  return c;
}

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
  for (size_t i = 0; i < scored.size() && i < static_cast<size_t>(o.top_k); ++i) ids.push_back(scored[i].second);
  return ids;
}

// Restricted spend share of a band's baskets with a 95% interval from the
// ratio estimator's linearisation (baskets are the sampling unit).
void restricted_share_interval(const std::vector<Basket>& baskets, const std::vector<int>& band_of, int band,
                               BandInsights* out) {
  double s = 0, r = 0;
  int64_t n = 0;
  for (size_t i = 0; i < baskets.size(); ++i) {
    if (band_of[i] != band) continue;
    s += baskets[i].spend, r += baskets[i].restricted_spend, ++n;
  }
  if (n < 2 || s <= 0) {
    out->restricted_low = out->restricted_high = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  const double ratio = r / s;
  double ss = 0;
  for (size_t i = 0; i < baskets.size(); ++i) {
    if (band_of[i] != band) continue;
    const double d = baskets[i].restricted_spend - ratio * baskets[i].spend;
    ss += d * d;
  }
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
          {"method",
           "Insights are recomputed on the weeks before the held-out ones. A held-out basket with a band is a hit "
           "when it holds a line of one of the k categories its band's list names. band_lift: the recommendations "
           "(over-indexed categories by lift); band_best_sellers: the band's own k most bought categories; "
           "overall_best_sellers: the k most bought categories of all shoppers; band_uplift: the k categories whose share of "
           "the band's baskets exceeds their share of all baskets by most (P(c | band) - P(c), at least min_support "
           "of the band's baskets). Restricted goods are left out of "
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
            {"evaluation", evaluation.to_json()},
            {"seconds", seconds}};
  j["confusion"] = confusion ? confusion->to_json() : json(nullptr);
  return j;
}

// ---- the computation ----

namespace {

// Phase 1: each household's band in the analysis band set (-1: none), and
// the households per band; source bands that straddle or miss the analysis
// bands are noted in r->band_warnings.
std::unordered_map<std::string, int> household_bands(const RetailData& data, const InsightsOptions& o,
                                                     std::vector<int64_t>* households, InsightsResult* r) {
  const size_t nb = o.bands.size();
  std::unordered_map<std::string, int> band_of_household;
  std::map<std::string, int> source_band;  // "25-34" -> analysis band
  households->assign(nb, 0);
  for (const auto& h : data.households) {
    if (h.band.empty()) continue;
    auto it = source_band.find(h.band);
    if (it == source_band.end()) {
      const AgeBand src = parse_age_band(h.band, "household " + h.id);
      const int mapped = find_band_of(o.bands, src);
      const int at_low = find_band(o.bands, src.low);
      const int at_high = find_band(o.bands, std::min(src.high, src.low + kOpenEndedBandSpan));
      if (mapped >= 0 && (at_low != mapped || at_high != mapped)) {
        r->band_warnings.push_back("household band " + src.name + " straddles the analysis bands; counted as " +
                                  o.bands[mapped].name);
      }
      if (mapped < 0) r->band_warnings.push_back("household band " + src.name + " is in no analysis band; left out");
      it = source_band.emplace(h.band, mapped).first;
    }
    band_of_household[h.id] = it->second;
    if (it->second >= 0) (*households)[it->second]++;
  }
  return band_of_household;
}

// The products, interned: categories and departments numbered in order of
// first appearance, each product's category and department (-1: none).
struct Products {
  Index ix;
  std::unordered_map<std::string, size_t> index;  // product id -> row of data.products
  std::vector<int> category_of, department_of;
};

// Phase 2: products -> interned categories and departments.
Products index_products(const RetailData& data) {
  Products p;
  p.category_of.assign(data.products.size(), -1);
  p.department_of.assign(data.products.size(), -1);
  std::map<std::string, int> cat_id, dep_id;
  for (size_t i = 0; i < data.products.size(); ++i) {
    const RetailProduct& prod = data.products[i];
    p.index[prod.id] = i;
    if (!prod.department.empty()) {
      auto [it, added] = dep_id.emplace(prod.department, static_cast<int>(p.ix.departments.size()));
      if (added) p.ix.departments.push_back(prod.department);
      p.department_of[i] = it->second;
    }
    if (!prod.category.empty()) {
      auto [it, added] = cat_id.emplace(prod.category, static_cast<int>(p.ix.categories.size()));
      if (added) {
        p.ix.categories.push_back(prod.category);
        p.ix.category_department.push_back(prod.department);
        p.ix.category_restricted.push_back(prod.restricted);
      }
      p.category_of[i] = it->second;
      if (prod.restricted) p.ix.category_restricted[it->second] = true;
    }
  }
  return p;
}

// Phase 3: the lines grouped into baskets (band, week, spend, distinct
// categories, departments and products); line counts into *r.
std::vector<Basket> build_baskets(const RetailData& data, const std::unordered_map<std::string, int>& band_of_household,
                                  const Products& products, InsightsResult* r) {
  std::vector<Basket> baskets;
  std::unordered_map<std::string, size_t> basket_index;
  for (const RetailLine& l : data.lines) {
    auto [it, added] = basket_index.emplace(l.basket, baskets.size());
    if (added) {
      baskets.emplace_back();
      auto h = band_of_household.find(l.household);
      baskets.back().band = h == band_of_household.end() ? -1 : h->second;
    }
    Basket& b = baskets[it->second];
    b.week = std::max(b.week, l.week);
    b.lines++;
    b.spend += l.value;
    r->lines++;
    r->spend += l.value;
    if (b.band < 0) r->unbanded_lines++;
    auto p = products.index.find(l.product);
    if (p == products.index.end()) {
      r->unknown_product_lines++;
      continue;
    }
    const RetailProduct& prod = data.products[p->second];
    if (prod.restricted) b.restricted_spend += l.value, r->restricted_lines++;
    const int c = products.category_of[p->second], d = products.department_of[p->second];
    if (c >= 0 && std::find(b.categories.begin(), b.categories.end(), c) == b.categories.end()) b.categories.push_back(c);
    if (d >= 0 && std::find(b.departments.begin(), b.departments.end(), d) == b.departments.end()) b.departments.push_back(d);
    const int pi = static_cast<int>(p->second);
    if (std::find(b.products.begin(), b.products.end(), pi) == b.products.end()) b.products.push_back(pi);
  }
  return baskets;
}

// What the phases after the baskets share.
struct Analysis {
  const RetailData& data;
  const InsightsOptions& o;
  const Products& products;
  const std::vector<Basket>& baskets;
  std::vector<int> known;  // each basket's band (-1: none)
  size_t nb = 0;
};

// The band's most bought products of each ranked category, as examples.
void add_examples(const Analysis& a, size_t b, const std::vector<int>& ranked_ids, BandInsights* bi) {
  std::map<int, std::map<int, int64_t>> product_baskets;  // category -> product -> band baskets
  const std::set<int> wanted(ranked_ids.begin(), ranked_ids.end());
  for (size_t i = 0; i < a.baskets.size(); ++i) {
    if (a.known[i] != static_cast<int>(b)) continue;
    for (int p : a.baskets[i].products) {
      const int c = a.products.category_of[p];
      if (wanted.count(c)) product_baskets[c][p]++;
    }
  }
  for (int c : ranked_ids) {
    Recommendation rec;
    for (const Lift& l : bi->categories) {
      if (l.name == a.products.ix.categories[c]) rec.lift = l;
    }
    std::vector<std::pair<int64_t, int>> prods;
    for (const auto& [p, n] : product_baskets[c]) prods.push_back({-n, p});
    std::sort(prods.begin(), prods.end());
    for (size_t i = 0; i < prods.size() && i < static_cast<size_t>(a.o.examples); ++i) {
      const RetailProduct& p = a.data.products[prods[i].second];
      rec.examples.push_back({p.id, p.type, p.brand, -prods[i].first});
    }
    bi->ranked.push_back(std::move(rec));
  }
}

// Phase 4: one band's figures with the known bands; returns its ranked category ids.
std::vector<int> band_figures(const Analysis& a, const Counts& all, size_t b, int64_t households, BandInsights* bi) {
  const Index& ix = a.products.ix;
  bi->band = a.o.bands[b];
  bi->households = households;
  bi->baskets = all.band_baskets[b];
  for (size_t i = 0; i < a.baskets.size(); ++i) {
    if (a.known[i] != static_cast<int>(b)) continue;
    bi->lines += a.baskets[i].lines;
    bi->spend += a.baskets[i].spend;
    bi->restricted_spend += a.baskets[i].restricted_spend;
  }
  restricted_share_interval(a.baskets, a.known, static_cast<int>(b), bi);
  std::vector<int> ranked = rank_band(all, b, ix, a.o, allows_restricted(bi->band, a.o.challenge_age), &bi->categories);
  for (size_t d = 0; d < ix.departments.size(); ++d) {
    if (all.band_department[b][d] == 0) continue;
    bi->departments.push_back(make_lift(ix.departments[d], all.band_department[b][d], all.band_baskets[b],
                                        all.all_department[d], all.all_baskets, a.o.min_support));
  }
  std::sort(bi->departments.begin(), bi->departments.end(),
            [](const Lift& x, const Lift& y) { return x.lift != y.lift ? x.lift > y.lift : x.name < y.name; });
  add_examples(a, b, ranked, bi);
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

// One redraw of every basket's band through the camera's confusion. Each row
// of the confusion comes from its posterior (Dirichlet, Jeffreys prior), so
// the few validation photos per band add their own uncertainty.
void draw_bands(const Analysis& a, const BandConfusion& confusion, std::mt19937_64& rng, std::vector<int>* drawn) {
  std::vector<std::discrete_distribution<int>> rows(a.nb);
  std::vector<bool> has_row(a.nb, false);
  for (size_t t = 0; t < a.nb; ++t) {
    int64_t total = 0;
    for (int64_t v : confusion.counts[t]) total += v;
    if (total == 0) continue;  // no photo of that band: its baskets keep their band
    std::vector<double> w;
    for (int64_t v : confusion.counts[t]) {
      std::gamma_distribution<double> g(double(v) + kDirichletPrior, 1.0);
      w.push_back(g(rng));
    }
    rows[t] = std::discrete_distribution<int>(w.begin(), w.end());
    has_row[t] = true;
  }
  for (size_t i = 0; i < a.baskets.size(); ++i) {
    const int t = a.known[i];
    if (t < 0 || !has_row[t]) {
      (*drawn)[i] = t;
      continue;
    }
    const int e = rows[t](rng);
    (*drawn)[i] = e == static_cast<int>(a.nb) ? -1 : e;
  }
}

// Phase 6: the figures again with bands drawn through the camera's
// confusion: how often each recommendation stays in the top k, the spread
// of its lift, and of each band's restricted share.
void resample_through_confusion(const Analysis& a, const BandConfusion& confusion,
                                const std::vector<std::vector<int>>& ranked_ids, InsightsResult* r) {
  const InsightsOptions& o = a.o;
  const size_t nb = a.nb;
  std::mt19937_64 rng(o.seed);
  std::vector<std::vector<int>> kept(nb);  // per band, per top-k rec: resamples kept
  std::vector<std::vector<std::vector<double>>> lifts(nb);
  std::vector<std::vector<double>> restricted(nb);
  for (size_t b = 0; b < nb; ++b) {
    const size_t k = std::min(ranked_ids[b].size(), static_cast<size_t>(o.top_k));
    kept[b].assign(k, 0);
    lifts[b].assign(k, {});
  }
  std::vector<int> drawn(a.baskets.size());
  for (int rep = 0; rep < o.resamples; ++rep) {
    draw_bands(a, confusion, rng, &drawn);
    const Counts c = count(a.baskets, drawn, nb, a.products.ix, nullptr);
    for (size_t b = 0; b < nb; ++b) {
      const std::vector<int> now =
          rank_band(c, b, a.products.ix, o, allows_restricted(o.bands[b], o.challenge_age), nullptr);
      const size_t top = std::min(now.size(), static_cast<size_t>(o.top_k));
      for (size_t j = 0; j < kept[b].size(); ++j) {
        const int cat = ranked_ids[b][j];
        if (std::find(now.begin(), now.begin() + top, cat) != now.begin() + top) kept[b][j]++;
        const Lift l = make_lift("", c.band_category[b][cat], c.band_baskets[b], c.all_category[cat], c.all_baskets,
                                 o.min_support);
        lifts[b][j].push_back(l.lift);
      }
      double s = 0, rs = 0;
      for (size_t i = 0; i < a.baskets.size(); ++i) {
        if (drawn[i] == static_cast<int>(b)) s += a.baskets[i].spend, rs += a.baskets[i].restricted_spend;
      }
      if (s > 0) restricted[b].push_back(rs / s);
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

// How often one method's lists hit the held-out baskets: of the band's own
// baskets, and of the other bands' baskets.
HoldoutMethod score_method(const Analysis& a, const std::vector<bool>& train, const char* name,
                           const std::vector<std::vector<int>>& lists) {
  HoldoutMethod hm;
  hm.name = name;
  hm.by_band.assign(a.nb, {0, 0});
  hm.other_by_band.assign(a.nb, {0, 0});
  for (size_t i = 0; i < a.baskets.size(); ++i) {
    const Basket& bk = a.baskets[i];
    if (train[i] || bk.band < 0 || bk.categories.empty()) continue;
    for (size_t b = 0; b < a.nb; ++b) {
      const auto& list = lists[b];
      const bool hit = std::any_of(bk.categories.begin(), bk.categories.end(), [&](int cat) {
        return std::find(list.begin(), list.end(), cat) != list.end();
      });
      if (static_cast<int>(b) == bk.band) {
        hm.baskets++, hm.hits += hit;
        hm.by_band[b].second++, hm.by_band[b].first += hit;
      } else {
        hm.other_by_band[b].second++, hm.other_by_band[b].first += hit;
      }
    }
  }
  return hm;
}

// Phase 7: the last holdout_weeks held out; the band's lift ranking, the
// band's best sellers and the overall best sellers, learnt on the weeks
// before, scored on them.
HoldoutEvaluation holdout_evaluation(const Analysis& a) {
  const InsightsOptions& o = a.o;
  HoldoutEvaluation ev;
  ev.k = o.top_k;
  int last = 0;
  for (const Basket& b : a.baskets) last = std::max(last, b.week);
  ev.last_week = last;
  ev.first_week = last - o.holdout_weeks + 1;
  std::vector<bool> train(a.baskets.size());
  for (size_t i = 0; i < a.baskets.size(); ++i) train[i] = a.baskets[i].week < ev.first_week;
  const Counts c = count(a.baskets, a.known, a.nb, a.products.ix, &train);
  ev.train_baskets = c.all_baskets;
  std::vector<std::vector<std::vector<int>>> lists(4, std::vector<std::vector<int>>(a.nb));
  for (size_t b = 0; b < a.nb; ++b) {
    const bool allow = allows_restricted(o.bands[b], o.challenge_age);
    std::vector<int> lift_list = rank_band(c, b, a.products.ix, o, allow, nullptr);
    if (lift_list.size() > static_cast<size_t>(o.top_k)) lift_list.resize(o.top_k);
    lists[0][b] = lift_list;
    lists[1][b] = best_sellers(c.band_category[b], a.products.ix, allow, o.top_k);
    lists[2][b] = best_sellers(c.all_category, a.products.ix, allow, o.top_k);
    lists[3][b] = uplift_ranking(c, b, a.products.ix, o, allow);
  }
  const char* names[] = {"band_lift", "band_best_sellers", "overall_best_sellers", "band_uplift"};
  for (int m = 0; m < 4; ++m) ev.methods.push_back(score_method(a, train, names[m], lists[m]));
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

InsightsResult compute_insights(const RetailData& data, const InsightsOptions& o, const BandConfusion* confusion) {
  const auto t0 = std::chrono::steady_clock::now();
  check_options(o, confusion);
  InsightsResult r;
  r.options = o;
  std::vector<int64_t> households;
  const auto band_of_household = household_bands(data, o, &households, &r);
  const Products products = index_products(data);
  const std::vector<Basket> baskets = build_baskets(data, band_of_household, products, &r);
  r.baskets = static_cast<int64_t>(baskets.size());
  Analysis a{data, o, products, baskets, {}, o.bands.size()};
  a.known.resize(baskets.size());
  for (size_t i = 0; i < baskets.size(); ++i) a.known[i] = baskets[i].band;

  const Counts all = count(baskets, a.known, a.nb, products.ix, nullptr);
  r.banded_baskets = all.all_baskets;
  std::vector<std::vector<int>> ranked_ids(a.nb);
  for (size_t b = 0; b < a.nb; ++b) {
    BandInsights bi;
    ranked_ids[b] = band_figures(a, all, b, households[b], &bi);
    r.bands.push_back(std::move(bi));
  }
  r.heat_departments = heat_departments(all, products.ix, o);
  if (confusion && !confusion->empty() && o.resamples > 0) {
    r.confusion = *confusion;
    resample_through_confusion(a, *confusion, ranked_ids, &r);
  }
  r.evaluation = holdout_evaluation(a);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
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
                 {"estimated_bands", r.confusion ? json(r.confusion->source) : json(nullptr)}};
  return Recommender(std::move(bands), std::move(ranked), std::move(source));
}

}  // namespace agegate
