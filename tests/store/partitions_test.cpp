// Monthly partitions of the checkout records on PostgreSQL (schema 5):
// retention drops whole old months and deletes exactly the older rows of the
// month it cuts, the migration from schema 4 keeps every row, and a sale is
// recorded once whatever time it is sent again with (both engines).
#include <gtest/gtest.h>

#include "agegate/core/time.h"
#include "agegate/store/store.h"
#include "test_db.h"

namespace agegate {
namespace {

const int64_t kSep = parse_iso8601("2026-09-10T08:00:00Z", "test");
const int64_t kOct1 = parse_iso8601("2026-10-01T00:00:00Z", "test");
const int64_t kOct15 = parse_iso8601("2026-10-15T00:00:00Z", "test");
const int64_t kNov = parse_iso8601("2026-11-20T18:30:00Z", "test");
constexpr int64_t kHour = 3600 * kMsPerSecond;

CheckoutEvent event(int64_t t) {
  CheckoutEvent e;
  e.event_id = new_event_id();
  e.time_ms = t;
  e.context = {"S1", "2", "", "", std::nullopt};
  e.model = "m@1";
  e.policy = "{}";
  e.faces = 0;
  e.decision = "no_face";
  e.reason = "r";
  return e;
}

Sale sale(const std::string& txn, int64_t t) {
  Sale s;
  s.store = "S1";
  s.transaction = txn;
  s.lane = "2";
  s.cashier = "c1";
  s.time_ms = t;
  s.id_check = IdCheck::kAdult;
  s.lines = {{"p1", "LIQUOR", 1, 20, true}, {"p2", "BREAD", 1, 2, false}};
  return s;
}

// Events and sales at these times: three in September, Oct 1 00:00, the
// millisecond before Oct 15, Oct 15 itself, two in November.
const std::vector<int64_t> kTimes = {kSep, kSep + kHour, kSep + 2 * kHour, kOct1, kOct15 - 1, kOct15, kNov, kNov + kHour};

void fill(Store& s) {
  std::vector<Sale> sales;
  for (size_t i = 0; i < kTimes.size(); ++i) {
    s.record_event(event(kTimes[i]));
    sales.push_back(sale("T" + std::to_string(i), kTimes[i]));
  }
  EXPECT_EQ(s.record_sales(sales).inserted, int64_t(kTimes.size()));
}

// PostgreSQL only: SQLite keeps plain tables.
class PartitionTest : public testing::BackendTest {
 protected:
  int64_t count(const std::string& sql) const { return std::stoll(testing::query_postgres(url_, sql)); }
  int64_t partitions(const std::string& table) const {
    return count("SELECT COUNT(*) FROM pg_inherits WHERE inhparent = '" + table + "'::regclass");
  }
  bool exists(const std::string& table) const {
    return count("SELECT COUNT(*) FROM pg_class WHERE relname = '" + table + "'") == 1;
  }
};

TEST_P(PartitionTest, RetentionDropsTheOldMonthsAndDeletesExactlyTheOlderRowsOfTheMonthItCuts) {
  auto s = Store::open(url_);
  fill(*s);
  for (const char* t : {"checkout_events", "sales", "sale_lines"}) EXPECT_EQ(partitions(t), 3) << t;
  EXPECT_TRUE(exists("checkout_events_2026_09"));
  const PruneResult r = s->prune(kOct15);
  EXPECT_EQ(r.events, 5);  // September's three (its partition dropped), Oct 1 and the millisecond before Oct 15
  EXPECT_EQ(r.sales, 5);
  for (const char* t : {"checkout_events_2026_09", "sales_2026_09", "sale_lines_2026_09"}) EXPECT_FALSE(exists(t)) << t;
  EXPECT_TRUE(exists("checkout_events_2026_10"));
  const StoreCounts c = s->counts();
  EXPECT_EQ(c.events, 3);
  EXPECT_EQ(c.sales, 3);
  EXPECT_EQ(c.sale_lines, 6);
  for (const auto& e : s->events({})) EXPECT_GE(e.time_ms, kOct15);
  // A record of a month whose partition retention dropped makes it again.
  s->record_event(event(kSep));
  EXPECT_TRUE(exists("checkout_events_2026_09"));
  // A second Store (another service) prunes what is left before November.
  auto other = Store::open(url_);
  EXPECT_EQ(other->prune(kNov).events, 2);  // Sep again, Oct 15
  EXPECT_EQ(partitions("checkout_events"), 1);
}

// A database of schema 4: the three tables plain, rows in three months.
TEST_P(PartitionTest, TheMigrationToMonthlyPartitionsKeepsEveryRow) {
  std::vector<CheckoutEvent> events;
  std::vector<Sale> sales;
  {
    auto s = Store::open(url_);
    fill(*s);
    events = s->events({});
    sales = s->sales({}, false);
  }
  for (const std::string t : {"checkout_events", "sales", "sale_lines"}) {
    exec("CREATE TABLE " + t + "_plain (LIKE " + t + " INCLUDING DEFAULTS INCLUDING CONSTRAINTS)");
    exec("INSERT INTO " + t + "_plain SELECT * FROM " + t);
    exec("DROP TABLE " + t);
    exec("ALTER TABLE " + t + "_plain RENAME TO " + t);
  }
  exec("ALTER TABLE checkout_events ADD CONSTRAINT checkout_events_pkey PRIMARY KEY (event_id)");
  exec("ALTER TABLE sales ADD CONSTRAINT sales_pkey PRIMARY KEY (store_id, transaction_id)");
  exec("ALTER TABLE sale_lines ADD CONSTRAINT sale_lines_pkey PRIMARY KEY (store_id, transaction_id, line_no)");
  exec("CREATE INDEX checkout_events_time ON checkout_events (time_ms)");
  exec("CREATE INDEX sales_time ON sales (time_ms)");
  exec("DELETE FROM agegate_schema WHERE version >= 5");
  ASSERT_EQ(count("SELECT COUNT(*) FROM pg_partitioned_table"), 0);

  auto s = Store::open(url_);
  EXPECT_EQ(s->schema_version(), kStoreSchemaVersion);
  EXPECT_EQ(count("SELECT COUNT(*) FROM pg_partitioned_table"), 3);
  for (const char* t : {"checkout_events", "sales", "sale_lines"}) EXPECT_EQ(partitions(t), 3) << t;
  const auto events_after = s->events({});
  ASSERT_EQ(events_after.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events_after[i].event_id, events[i].event_id);
    EXPECT_EQ(events_after[i].time_ms, events[i].time_ms);
  }
  const auto sales_after = s->sales({}, false);
  ASSERT_EQ(sales_after.size(), sales.size());
  for (size_t i = 0; i < sales.size(); ++i) {
    EXPECT_EQ(sales_after[i].transaction, sales[i].transaction);
    EXPECT_EQ(sales_after[i].lines.size(), 2u);
  }
  EXPECT_EQ(s->prune(kOct1).events, 3);
}

INSTANTIATE_TEST_SUITE_P(Backends, PartitionTest, ::testing::Values("postgresql"),
                         [](const auto& info) { return info.param; });

// Both engines: a sale sent again, even with another time, is recorded once.
class SaleOnceTest : public testing::BackendTest {};

TEST_P(SaleOnceTest, ASaleSentAgainWithAnotherTimeIsRecordedOnce) {
  auto s = Store::open(url_);
  EXPECT_EQ(s->record_sales({sale("T1", kSep)}).inserted, 1);
  const SalesWritten again = s->record_sales({sale("T1", kSep), sale("T1", kNov), sale("T2", kNov)});
  EXPECT_EQ(again.inserted, 1);
  EXPECT_EQ(again.duplicates, 2);
  EXPECT_EQ(s->counts().sales, 2);
  EXPECT_EQ(s->counts().sale_lines, 4);
}

INSTANTIATE_TEST_SUITE_P(Backends, SaleOnceTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace agegate
