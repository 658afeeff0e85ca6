// The audit read from the checkout database (transaction matches counted by
// a GROUP BY, lane matches one store at a time) gives the figures of the
// audit of the same records in memory, on both engines.
#include <gtest/gtest.h>

#include "agegate/analytics/audit.h"
#include "agegate/core/time.h"
#include "agegate/store/store.h"
#include "test_db.h"

namespace agegate {
namespace {

const int64_t kT0 = parse_iso8601("2026-11-02T10:00:00Z", "test");  // a Monday
constexpr int64_t kSec = kMsPerSecond;

CheckoutEvent ev(const std::string& store, const std::string& lane, int64_t t, const std::string& decision,
                 const std::string& txn = "", const std::string& model = "m@1") {
  CheckoutEvent e;
  e.event_id = new_event_id();
  e.time_ms = t;
  e.context = {store, lane, txn, "", std::nullopt};
  e.model = model;
  e.policy = "{}";
  e.faces = 1;
  e.decision = decision;
  e.reason = "r";
  return e;
}

Sale sale(const std::string& store, const std::string& txn, const std::string& lane, const std::string& cashier,
          int64_t t, IdCheck check, bool restricted = true) {
  Sale s;
  s.transaction = txn;
  s.store = store;
  s.lane = lane;
  s.cashier = cashier;
  s.time_ms = t;
  s.id_check = check;
  s.lines.push_back({"p1", "BREAD", 1, 2, false});
  if (restricted) s.lines.push_back({"p2", "LIQUOR", 1, 10, true});
  return s;
}

// Two stores over three weeks: tills that send transaction ids (several
// events for some transactions, the latest counts) and tills that do not
// (matched by lane and time, each event once), sales without any event, a
// sale that is not restricted, records outside the audited range.
void fill(Store& store) {
  std::vector<Sale> sales;
  int n = 0;
  for (const char* st : {"S1", "S2"}) {
    for (int i = 0; i < 90; ++i, ++n) {
      const int64_t t = kT0 + int64_t(n) * 5 * 3600 * kSec;  // every five hours
      const std::string cashier = "c" + std::to_string(i % 4) + (i % 4 == 3 && std::string(st) == "S1" ? "x" : "");
      const bool careless = cashier == "c3x";
      const std::string txn = "T" + std::to_string(n);
      IdCheck check = i % 3 == 0 ? IdCheck::kNotChecked : (i % 7 == 0 ? IdCheck::kRefused : IdCheck::kAdult);
      if (careless && i % 5 != 0) check = IdCheck::kNotChecked;
      if (i % 10 < 6) {
        // A till with transaction ids: a first look, then the decision that counts.
        store.record_event(ev(st, "1", t - 90 * kSec, "no_check", txn, "m@0"));
        store.record_event(ev(st, "1", t - 30 * kSec, i % 2 ? "id_check" : "no_check", txn));
      } else if (i % 10 < 9) {
        // Lane 2 sends no transaction id: matched by lane and time.
        store.record_event(ev(st, "2", t - 20 * kSec, i % 2 ? "id_check" : "no_face"));
        if (i % 10 == 8) store.record_event(ev(st, "2", t - 10 * kSec, "no_check"));  // a second, later look
      }  // else: no event at all
      sales.push_back(sale(st, txn, i % 10 < 6 ? "1" : "2", cashier, t, check, i % 11 != 0));
    }
  }
  // A lane event long before anything: outside every window.
  store.record_event(ev("S1", "2", kT0 - 30 * 24 * 3600 * kSec, "id_check"));
  store.record_sales(sales);
}

nlohmann::json strip_seconds(nlohmann::json j) {
  j.erase("seconds");
  return j;
}

class AuditDbTest : public testing::BackendTest {};

TEST_P(AuditDbTest, TheDatabaseAuditEqualsTheAuditOfTheSameRecordsInMemory) {
  auto store = Store::open(url_);
  fill(*store);
  std::vector<AuditOptions> cases(4);
  cases[1].range.store = "S2";
  cases[2].range.from_ms = kT0 + 7 * 24 * 3600 * kSec;
  cases[2].range.to_ms = kT0 + 30 * 24 * 3600 * kSec;
  cases[3].window_s = 15;  // most lane events fall outside the window
  cases[3].min_asked = 3;
  int flagged = 0;
  for (const AuditOptions& o : cases) {
    const AuditResult db = run_audit(*store, o);
    TimeRange around = o.range;
    if (around.from_ms) *around.from_ms -= int64_t(o.window_s) * kSec;
    if (around.to_ms) *around.to_ms += int64_t(o.skew_s) * kSec;
    const AuditResult memory = audit_records(store->sales(o.range, true), store->events(around), o);
    EXPECT_EQ(strip_seconds(db.to_json()), strip_seconds(memory.to_json())) << "store '" << o.range.store << "'";
    EXPECT_GT(db.matched_by_transaction, 0);
    EXPECT_GT(db.sales, db.matched_by_transaction);
    for (const auto& c : db.cashiers) flagged += c.flagged;
  }
  const AuditResult all = run_audit(*store, cases[0]);
  EXPECT_GT(all.matched_by_lane, 0);
  EXPECT_EQ(all.models.size(), 2u);  // m@0 and m@1
  EXPECT_GT(flagged, 0);             // the careless cashier of S1
}

INSTANTIATE_TEST_SUITE_P(Backends, AuditDbTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace agegate
