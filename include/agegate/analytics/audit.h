// The cashier compliance audit: from the checkout database, per store and
// per cashier, how often the camera asked for ID on a restricted sale and
// the cashier recorded no check, with 95% intervals, a significance test per
// cashier against the rest of their store, a weekly trend, and the estimator's
// own error rates beside it (a flag is a likelihood, never proof).
//
//   AuditOptions o;  o.range.store = "S1";
//   AuditResult r = run_audit(*store, o);
//   write_audit_report(r, "audit/", ChartOptions{});   // index.html, audit.json, charts
//
// Matching a sale to the camera's estimate (match_sales()):
//   1. by transaction: the latest event of the same store and transaction id;
//   2. otherwise by lane and time: the latest event of the same store and lane
//      that carries no transaction id, taken between `window_s` before and
//      `skew_s` after the sale, not already matched to an earlier sale.
// A restricted sale without a matching event is "unmatched" (the till sent
// no photo) and is counted apart; it never counts as asked.
// The camera "asked" when the matched decision is id_check or no_face.
// Pure functions of what the store returns; thread-safe.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agegate/core/share.h"
#include "agegate/report/chart.h"
#include "agegate/store/store.h"

namespace agegate {

struct AuditOptions {
  TimeRange range;
  int window_s = 300;         // lane/time matching: event up to this long before the sale
  int skew_s = 30;            // ... or this long after it (till and camera clocks differ)
  int min_asked = 10;         // fewer asked sales: a cashier is shown but not tested
  double alpha = 0.05;        // family-wise, Holm-adjusted over the cashiers tested
  nlohmann::json estimator;   // the model's held-out "metrics.test" (may be null)
  std::string estimator_source;  // which model file it came from
};

// What a set of restricted sales adds up to (a store, a cashier, a week).
struct AuditFigures {
  int64_t restricted = 0;   // restricted sales
  int64_t unmatched = 0;    // no estimate found for them
  Share asked;              // camera asked / matched restricted sales
  Share unchecked;          // no ID check recorded / asked ("unchecked risky sales")
  Share refused;            // refused / restricted sales
  Share checked_unasked;    // checked although the camera passed them / passed
};

struct AuditGroup : AuditFigures {
  std::string store;
  std::string cashier;      // empty for a store's row
  // Cashier rows only: one-sided Fisher exact test of unchecked/asked against
  // the rest of the store, its Holm-adjusted value, and the verdict.
  std::optional<double> p_value;
  std::optional<double> p_adjusted;
  bool tested = false;
  bool flagged = false;
  std::string note;  // why not tested, or why flagged
};

struct AuditWeek : AuditFigures {
  int64_t start_ms = 0;  // Monday 00:00 UTC
};

struct AuditResult {
  AuditOptions options;
  int64_t sales = 0;        // restricted sales read
  int64_t events = 0;       // events read
  int64_t matched_by_transaction = 0;
  int64_t matched_by_lane = 0;
  std::vector<AuditGroup> stores;
  std::vector<AuditGroup> cashiers;
  std::vector<AuditWeek> weeks;
  std::vector<std::pair<std::string, int64_t>> models;  // estimator versions seen in the events
  double seconds = 0;       // time the audit took

  nlohmann::json to_json() const;
};

// For each sale, the index of its matching event in `events` (sorted by
// time) or -1; `by_transaction` (may be null) counts the first kind.
std::vector<int64_t> match_sales(const std::vector<Sale>& sales, const std::vector<CheckoutEvent>& events,
                                 const AuditOptions& options, int64_t* by_transaction);

// The audit of the restricted sales in the range and the events around it,
// from the database's counts (store/audit_counts.h): what is matched by
// transaction is counted by a GROUP BY, the rest is read and matched by lane
// one store at a time, so memory grows with one store's till-without-
// transaction-id sales, not with the chain. The same figures as
// audit_records() on the same records.
AuditResult run_audit(const Store& store, const AuditOptions& options);
// The same over records already in memory (tests, benchmarks).
AuditResult audit_records(const std::vector<Sale>& sales, const std::vector<CheckoutEvent>& events,
                          const AuditOptions& options);

// P(X >= a) for X hypergeometric with the margins of the 2x2 table
// [[a, b], [c, d]]: the one-sided Fisher exact test that row 1's share a/(a+b)
// is above row 2's.
double fisher_one_sided(int64_t a, int64_t b, int64_t c, int64_t d);
// Holm's step-down adjustment (same order as given).
std::vector<double> holm_adjust(const std::vector<double>& p);

// dir/index.html (charts, tables; opens from disk), dir/audit.json and the
// charts' PNG/SVG. IoError when the folder cannot be written or gnuplot fails.
void write_audit_report(const AuditResult& result, const std::filesystem::path& dir, const ChartOptions& charts);

}  // namespace agegate
