// The cashier compliance audit's figures; see analytics/audit.h.
#include "agegate/analytics/audit.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>

#include "agegate/core/error.h"
#include "agegate/core/numeric.h"
#include "agegate/core/time.h"

namespace agegate {
namespace {
using json = nlohmann::json;

// What one restricted sale contributes to its groups.
struct Outcome {
  bool matched = false;
  bool asked = false;
  bool unchecked = false;  // asked and not checked
  bool refused = false;
  bool checked = false;    // adult or refused
};

Outcome outcome(bool matched, bool asked, IdCheck check) {
  Outcome o;
  o.matched = matched;
  o.asked = matched && asked;
  o.checked = check != IdCheck::kNotChecked;
  o.unchecked = o.asked && !o.checked;
  o.refused = check == IdCheck::kRefused;
  return o;
}

// n sales of the same outcome.
void add(AuditFigures& g, const Outcome& o, int64_t n) {
  g.restricted += n;
  g.refused.n += n;
  g.refused.hits += o.refused * n;
  if (!o.matched) {
    g.unmatched += n;
    return;
  }
  g.asked.n += n;
  g.asked.hits += o.asked * n;
  if (o.asked) {
    g.unchecked.n += n;
    g.unchecked.hits += o.unchecked * n;
  } else {
    g.checked_unasked.n += n;
    g.checked_unasked.hits += o.checked * n;
  }
}

// The figures per store, cashier and week as sales are added.
struct Groups {
  std::map<std::string, AuditGroup> stores;
  std::map<std::pair<std::string, std::string>, AuditGroup> cashiers;
  std::map<int64_t, AuditWeek> weeks;

  void add_sales(const std::string& store, const std::string& cashier, int64_t time_ms, const Outcome& o, int64_t n) {
    AuditGroup& st = stores[store];
    st.store = store;
    add(st, o, n);
    AuditGroup& ca = cashiers[{store, cashier}];
    ca.store = store;
    ca.cashier = cashier;
    add(ca, o, n);
    AuditWeek& w = weeks[week_start_ms(time_ms)];
    w.start_ms = week_start_ms(time_ms);
    add(w, o, n);
  }
};

json group_json(const AuditGroup& g) {
  json j{{"store", g.store},
         {"restricted_sales", g.restricted},
         {"unmatched", g.unmatched},
         {"asked", g.asked.to_json()},
         {"unchecked_risky", g.unchecked.to_json()},
         {"refused", g.refused.to_json()},
         {"checked_unasked", g.checked_unasked.to_json()}};
  if (!g.cashier.empty()) {
    j["cashier"] = g.cashier;
    j["tested"] = g.tested;
    j["flagged"] = g.flagged;
    j["p_value"] = g.p_value ? json(*g.p_value) : json(nullptr);
    j["p_adjusted"] = g.p_adjusted ? json(*g.p_adjusted) : json(nullptr);
    j["note"] = g.note;
  }
  return j;
}

}  // namespace


double fisher_one_sided(int64_t a, int64_t b, int64_t c, int64_t d) {
  AGEGATE_CHECK(a >= 0 && b >= 0 && c >= 0 && d >= 0, "negative cell");
  const int64_t row1 = a + b, col1 = a + c, n = a + b + c + d;
  const int64_t hi = std::min(row1, col1);
  const double denom = log_choose(n, row1);
  double p = 0;
  for (int64_t x = a; x <= hi; ++x) {
    if (col1 - x > n - row1) continue;
    p += std::exp(log_choose(col1, x) + log_choose(n - col1, row1 - x) - denom);
  }
  return std::min(1.0, p);
}

std::vector<double> holm_adjust(const std::vector<double>& p) {
  const size_t m = p.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t i, size_t j) { return p[i] < p[j]; });
  std::vector<double> out(m);
  double running = 0;
  for (size_t r = 0; r < m; ++r) {
    running = std::max(running, std::min(1.0, double(m - r) * p[order[r]]));
    out[order[r]] = running;
  }
  return out;
}

namespace {

// Each tested cashier against the rest of their store, Holm over all
// tested; then the groups into *r in key order.
void finish(Groups* g, const AuditOptions& o, AuditResult* r) {
  std::vector<double> p;
  std::vector<AuditGroup*> tested;
  for (auto& [key, c] : g->cashiers) {
    const AuditGroup& st = g->stores[c.store];
    const int64_t rest_asked = st.unchecked.n - c.unchecked.n, rest_unchecked = st.unchecked.hits - c.unchecked.hits;
    if (c.unchecked.n < o.min_asked) {
      c.note = "fewer than " + std::to_string(o.min_asked) + " sales where the camera asked: not tested";
      continue;
    }
    if (rest_asked < o.min_asked) {
      c.note = "the rest of the store has fewer than " + std::to_string(o.min_asked) + " asked sales: not tested";
      continue;
    }
    c.tested = true;
    c.p_value = fisher_one_sided(c.unchecked.hits, c.unchecked.n - c.unchecked.hits, rest_unchecked,
                                 rest_asked - rest_unchecked);
    p.push_back(*c.p_value);
    tested.push_back(&c);
  }
  const std::vector<double> adj = holm_adjust(p);
  for (size_t i = 0; i < tested.size(); ++i) {
    AuditGroup& c = *tested[i];
    c.p_adjusted = adj[i];
    c.flagged = adj[i] < o.alpha;
    c.note = c.flagged ? "unchecked rate significantly above the rest of the store" : "in line with the store";
  }
  for (auto& [k, v] : g->stores) r->stores.push_back(v);
  for (auto& [k, v] : g->cashiers) r->cashiers.push_back(v);
  for (auto& [k, v] : g->weeks) r->weeks.push_back(v);
}

}  // namespace

std::vector<int64_t> match_sales(const std::vector<Sale>& sales, const std::vector<CheckoutEvent>& events,
                                 const AuditOptions& o, int64_t* by_transaction) {
  // Latest event per (store, transaction); per (store, lane) the events
  // without a transaction id, in time order.
  std::map<std::pair<std::string, std::string>, int64_t> by_txn;
  std::map<std::pair<std::string, std::string>, std::vector<int64_t>> by_lane;
  for (size_t i = 0; i < events.size(); ++i) {
    const CheckoutEvent& e = events[i];
    if (!e.context.transaction.empty()) {
      auto& slot = by_txn.try_emplace({e.context.store, e.context.transaction}, int64_t(i)).first->second;
      if (events[slot].time_ms <= e.time_ms) slot = int64_t(i);
    } else {
      by_lane[{e.context.store, e.context.lane}].push_back(int64_t(i));
    }
  }
  for (auto& [k, v] : by_lane) {
    std::stable_sort(v.begin(), v.end(), [&](int64_t a, int64_t b) { return events[a].time_ms < events[b].time_ms; });
  }
  std::vector<size_t> order(sales.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return sales[a].time_ms < sales[b].time_ms; });
  std::vector<int64_t> match(sales.size(), -1);
  std::vector<bool> used(events.size(), false);
  int64_t n_txn = 0;
  const int64_t window = int64_t(o.window_s) * kMsPerSecond, skew = int64_t(o.skew_s) * kMsPerSecond;
  for (size_t si : order) {
    const Sale& s = sales[si];
    if (auto it = by_txn.find({s.store, s.transaction}); it != by_txn.end()) {
      match[si] = it->second;
      n_txn++;
      continue;
    }
    auto lane = by_lane.find({s.store, s.lane});
    if (lane == by_lane.end()) continue;
    const auto& v = lane->second;
    // The latest unused event in [t - window, t + skew].
    auto end = std::upper_bound(v.begin(), v.end(), s.time_ms + skew,
                                [&](int64_t t, int64_t idx) { return t < events[idx].time_ms; });
    for (auto it = end; it != v.begin();) {
      --it;
      if (events[*it].time_ms < s.time_ms - window) break;
      if (!used[*it]) {
        used[*it] = true;
        match[si] = *it;
        break;
      }
    }
  }
  if (by_transaction) *by_transaction = n_txn;
  return match;
}

AuditResult audit_records(const std::vector<Sale>& sales, const std::vector<CheckoutEvent>& events,
                          const AuditOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  AuditResult r;
  r.options = o;
  r.events = static_cast<int64_t>(events.size());
  std::map<std::string, int64_t> models;
  for (const auto& e : events) models[e.model]++;
  r.models.assign(models.begin(), models.end());

  std::vector<Sale> restricted;
  for (const auto& s : sales) {
    if (s.restricted()) restricted.push_back(s);
  }
  r.sales = static_cast<int64_t>(restricted.size());
  const std::vector<int64_t> match = match_sales(restricted, events, o, &r.matched_by_transaction);

  Groups g;
  for (size_t i = 0; i < restricted.size(); ++i) {
    const Sale& s = restricted[i];
    const Outcome out = outcome(match[i] >= 0, match[i] >= 0 && events[match[i]].asked_for_id(), s.id_check);
    r.matched_by_lane += out.matched;  // less those matched by transaction, below
    g.add_sales(s.store, s.cashier, s.time_ms, out, 1);
  }
  r.matched_by_lane -= r.matched_by_transaction;
  finish(&g, o, &r);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

AuditResult run_audit(const Store& store, const AuditOptions& o) {
  if (o.window_s < 0 || o.skew_s < 0) throw InvalidInput("audit: --window-s and --skew-s must be >= 0");
  if (o.min_asked < 1) throw InvalidInput("audit: --min-asked must be >= 1");
  if (!(o.alpha > 0 && o.alpha < 1)) throw InvalidInput("audit: --alpha must be in (0,1)");
  if (o.range.from_ms && o.range.to_ms && *o.range.from_ms >= *o.range.to_ms) {
    throw InvalidInput("audit: --from must be before --to");
  }
  const auto t0 = std::chrono::steady_clock::now();
  // Events a little outside the range can still match a sale inside it.
  TimeRange around = o.range;
  if (around.from_ms) *around.from_ms -= int64_t(o.window_s) * kMsPerSecond;
  if (around.to_ms) *around.to_ms += int64_t(o.skew_s) * kMsPerSecond;
  AuditResult r;
  r.options = o;
  r.models = store.event_models(around);
  std::sort(r.models.begin(), r.models.end());
  for (const auto& m : r.models) r.events += m.second;
  Groups g;
  // Sales matched by transaction: counted by the database.
  for (const AuditCountRow& row : store.audit_transaction_counts(o.range, around)) {
    g.add_sales(row.store, row.cashier, row.day * kMsPerDay, outcome(true, row.asked, row.id_check), row.sales);
    r.sales += row.sales;
    r.matched_by_transaction += row.sales;
  }
  // The rest by lane and time, one store at a time.
  for (const std::string& name : store.audit_lane_stores(o.range, around)) {
    const AuditLaneRecords lane = store.audit_lane_records(name, o.range, around);
    const std::vector<int64_t> match = match_sales(lane.sales, lane.events, o, nullptr);
    for (size_t i = 0; i < lane.sales.size(); ++i) {
      const Sale& s = lane.sales[i];
      const Outcome out = outcome(match[i] >= 0, match[i] >= 0 && lane.events[match[i]].asked_for_id(), s.id_check);
      g.add_sales(s.store, s.cashier, s.time_ms, out, 1);
      r.sales++;
      r.matched_by_lane += out.matched;
    }
  }
  finish(&g, o, &r);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

json AuditResult::to_json() const {
  json j;
  j["range"] = {{"from", options.range.from_ms ? json(format_iso8601(*options.range.from_ms)) : json(nullptr)},
                {"to", options.range.to_ms ? json(format_iso8601(*options.range.to_ms)) : json(nullptr)},
                {"store", options.range.store.empty() ? json(nullptr) : json(options.range.store)}};
  j["matching"] = {{"rule", "by transaction id; otherwise the latest unused event of the same store and lane "
                            "without a transaction id, from window_s before to skew_s after the sale"},
                   {"window_s", options.window_s},
                   {"skew_s", options.skew_s},
                   {"by_transaction", matched_by_transaction},
                   {"by_lane", matched_by_lane}};
  j["test"] = {{"name", "one-sided Fisher exact test, cashier vs the rest of the store, Holm-adjusted"},
               {"alpha", options.alpha},
               {"min_asked", options.min_asked}};
  j["restricted_sales"] = sales;
  j["events"] = events;
  json st = json::array(), ca = json::array(), wk = json::array(), mo = json::array();
  for (const auto& g : stores) st.push_back(group_json(g));
  for (const auto& g : cashiers) ca.push_back(group_json(g));
  for (const auto& w : weeks) {
    wk.push_back({{"week", format_date(w.start_ms)}, {"restricted_sales", w.restricted}, {"unmatched", w.unmatched},
                  {"asked", w.asked.to_json()}, {"unchecked_risky", w.unchecked.to_json()},
                  {"refused", w.refused.to_json()}});
  }
  for (const auto& [m, n] : models) mo.push_back({{"model", m}, {"events", n}});
  j["stores"] = st;
  j["cashiers"] = ca;
  j["weeks"] = wk;
  j["models"] = mo;
  j["flagged"] = json::array();
  for (const auto& g : cashiers) {
    if (g.flagged) j["flagged"].push_back({{"store", g.store}, {"cashier", g.cashier}});
  }
  j["estimator"] = {{"source", options.estimator_source}, {"held_out_test", options.estimator}};
  j["seconds"] = seconds;
  return j;
}

}  // namespace agegate
