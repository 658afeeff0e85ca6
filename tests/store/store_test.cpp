// The checkout database on both engines: SQLite in a scratch file and
// PostgreSQL on the throwaway cluster of scripts/with-postgres.sh.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "agegate/core/error.h"
#include "agegate/core/time.h"
#include "agegate/store/store.h"
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include "test_db.h"

namespace agegate {
namespace {

constexpr int64_t kDay = kMsPerDay;
const int64_t kT0 = parse_iso8601("2026-11-02T10:00:00Z", "test");

CheckoutEvent event(const std::string& store, const std::string& lane, int64_t t, const std::string& txn = "",
                    std::optional<double> age = 31.5) {
  CheckoutEvent e;
  e.event_id = new_event_id();
  e.time_ms = t;
  e.context = {store, lane, txn, "c1", std::nullopt};
  e.model = "test.agm@2026-11-01T00:00:00Z";
  e.policy = R"({"legal_age":18})";
  e.faces = age ? 1 : 0;
  e.decision = age ? (*age < 25 ? "id_check" : "no_check") : "no_face";
  e.reason = "because";
  if (age) {
    e.estimate = *age;
    e.low = *age - 6;
    e.high = *age + 7;
    e.p_under_legal = 0.001;
  }
  e.decode_ms = 1.5;
  e.detect_ms = 2.5;
  e.estimate_ms = 10.25;
  e.total_ms = 15;
  return e;
}

Sale sale(const std::string& store, const std::string& txn, int64_t t, bool restricted,
          IdCheck check = IdCheck::kNotChecked) {
  Sale s;
  s.store = store;
  s.transaction = txn;
  s.lane = "3";
  s.cashier = "c7";
  s.time_ms = t;
  s.id_check = check;
  s.lines.push_back({"p1", "BREAD", 2, 3.5, false});
  if (restricted) s.lines.push_back({"p2", "BEERS/ALES", 1, 7.99, true});
  return s;
}

class StoreTest : public testing::BackendTest {
 protected:
  std::unique_ptr<Store> open() { return Store::open(url_); }
};

TEST_P(StoreTest, AFreshDatabaseIsMigratedAndReopeningKeepsItsRows) {
  {
    auto s = open();
    EXPECT_EQ(s->schema_version(), kStoreSchemaVersion);
    s->record_event(event("S1", "1", kT0));
  }
  auto s = open();
  EXPECT_EQ(s->schema_version(), kStoreSchemaVersion);
  EXPECT_EQ(s->counts().events, 1);
}

TEST_P(StoreTest, ADatabaseFromANewerAgegateIsRefused) {
  {
    auto s = open();
  }
  {
    // Another agegate, newer than this one, migrated further.
    const std::string newer = "INSERT INTO agegate_schema (version, applied_ms) VALUES (99, 0)";
    exec(newer);
  }
  try {
    open();
    FAIL() << "opened a database of schema 99";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this agegate"), std::string::npos) << e.what();
  }
}

TEST_P(StoreTest, AnEventReadsBackAsItWasWrittenIncludingANoFaceEvent) {
  auto s = open();
  CheckoutEvent a = event("S1", "2", kT0, "T-1", 22.25);
  a.terminal = "CN=till-07,OU=S1,O=Example Stores";
  const CheckoutEvent b = event("S1", "2", kT0 + 1000, "", std::nullopt);
  s->record_event(a);
  s->record_event(b);
  const auto got = s->events({});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].event_id, a.event_id);
  EXPECT_EQ(got[0].time_ms, kT0);
  EXPECT_EQ(got[0].context.transaction, "T-1");
  EXPECT_EQ(got[0].context.cashier, "c1");
  EXPECT_EQ(got[0].decision, "id_check");
  ASSERT_TRUE(got[0].estimate && got[0].low && got[0].high && got[0].p_under_legal);
  EXPECT_DOUBLE_EQ(*got[0].estimate, 22.25);
  EXPECT_DOUBLE_EQ(*got[0].low, 16.25);
  EXPECT_DOUBLE_EQ(got[0].estimate_ms, 10.25);
  EXPECT_EQ(got[0].policy, R"({"legal_age":18})");
  EXPECT_EQ(got[1].decision, "no_face");
  EXPECT_EQ(got[1].faces, 0);
  EXPECT_FALSE(got[1].estimate.has_value());
  EXPECT_FALSE(got[1].p_under_legal.has_value());
  EXPECT_EQ(got[1].context.transaction, "");
  EXPECT_EQ(got[0].terminal, a.terminal);
  EXPECT_EQ(got[1].terminal, "");
}

TEST_P(StoreTest, AnEventWithoutStoreOrLaneOrWithAFreeTextIdIsRefused) {
  auto s = open();
  CheckoutEvent e = event("S1", "", kT0);
  EXPECT_THROW(s->record_event(e), InvalidInput);
  e = event("S1", "1", kT0);
  e.context.cashier = "Jane Smith";  // a name is not an opaque id
  EXPECT_THROW(s->record_event(e), InvalidInput);
  e = event("S1", "1", kT0);
  e.terminal = "CN=till\n07";  // a subject with a line break is not one OpenSSL printed
  EXPECT_THROW(s->record_event(e), InvalidInput);
  EXPECT_EQ(s->counts().events, 0);
}

TEST_P(StoreTest, SalesAreAllOrNothingAndARepeatedSaleIsSkipped) {
  auto s = open();
  std::vector<Sale> batch = {sale("S1", "T1", kT0, true), sale("S1", "T2", kT0, false)};
  batch.push_back(sale("S1", "T3", kT0, true));
  batch.back().lines[0].price = -1;  // bad
  try {
    s->record_sales(batch);
    FAIL() << "a bad sale was accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("sale 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("lines[0].price"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s->counts().sales, 0);
  batch.pop_back();
  SalesWritten w = s->record_sales(batch);
  EXPECT_EQ(w.inserted, 2);
  EXPECT_EQ(w.duplicates, 0);
  w = s->record_sales({sale("S1", "T1", kT0, true), sale("S1", "T9", kT0 + 5, true, IdCheck::kRefused)});
  EXPECT_EQ(w.inserted, 1);
  EXPECT_EQ(w.duplicates, 1);
  const StoreCounts c = s->counts();
  EXPECT_EQ(c.sales, 3);
  EXPECT_EQ(c.sale_lines, 5);
  const auto restricted = s->sales({}, /*restricted_only=*/true);
  ASSERT_EQ(restricted.size(), 2u);
  EXPECT_EQ(restricted[1].transaction, "T9");
  EXPECT_EQ(restricted[1].id_check, IdCheck::kRefused);
  ASSERT_EQ(restricted[1].lines.size(), 2u);
  EXPECT_EQ(restricted[1].lines[1].category, "BEERS/ALES");
  EXPECT_TRUE(restricted[1].lines[1].restricted);
  EXPECT_DOUBLE_EQ(restricted[1].lines[0].quantity, 2);
}

TEST_P(StoreTest, ConcurrentWritersLoseNothing) {
  StoreOptions o;
  o.connections = 4;
  auto s = Store::open(url_, o);
  constexpr int kThreads = 8, kEach = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        try {
          s->record_event(event("S1", std::to_string(t), kT0 + i));
          if (i % 10 == 0) s->record_sales({sale("S1", "T" + std::to_string(t) + "-" + std::to_string(i), kT0, true)});
        } catch (const std::exception& e) {
          failures++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(s->counts().events, kThreads * kEach);
  EXPECT_EQ(s->counts().sales, kThreads * kEach / 10);
}

TEST_P(StoreTest, RangesAndStoreFilterSelectWhatTheySay) {
  auto s = open();
  s->record_event(event("S1", "1", kT0 - kDay));
  s->record_event(event("S1", "1", kT0));
  s->record_event(event("S2", "1", kT0));
  s->record_event(event("S1", "1", kT0 + kDay));
  s->record_sales({sale("S1", "A", kT0 - kDay, true), sale("S1", "B", kT0, true), sale("S2", "C", kT0, true)});
  TimeRange r;
  r.from_ms = kT0;
  r.to_ms = kT0 + kDay;  // exclusive
  EXPECT_EQ(s->events(r).size(), 2u);
  r.store = "S1";
  EXPECT_EQ(s->events(r).size(), 1u);
  const auto sales = s->sales(r, true);
  ASSERT_EQ(sales.size(), 1u);
  EXPECT_EQ(sales[0].transaction, "B");
  EXPECT_EQ(sales[0].lines.size(), 2u);
}

TEST_P(StoreTest, PruneDeletesOnlyWhatIsOlder) {
  auto s = open();
  s->record_event(event("S1", "1", kT0 - 10 * kDay));
  s->record_event(event("S1", "1", kT0));
  s->record_sales({sale("S1", "old", kT0 - 10 * kDay, true), sale("S1", "new", kT0, true)});
  const PruneResult p = s->prune(kT0 - kDay);
  EXPECT_EQ(p.events, 1);
  EXPECT_EQ(p.sales, 1);
  const StoreCounts c = s->counts();
  EXPECT_EQ(c.events, 1);
  EXPECT_EQ(c.sales, 1);
  EXPECT_EQ(c.sale_lines, 2);
  EXPECT_EQ(s->sales({}, false).at(0).transaction, "new");
}

// The cutoff to the millisecond: strictly older goes, the cutoff itself stays.
TEST_P(StoreTest, PruneKeepsTheCutoffAndDeletesAMillisecondBefore) {
  auto s = open();
  for (int64_t d : {-1, 0, 1}) s->record_event(event("S1", "1", kT0 + d));
  s->record_sales({sale("S1", "before", kT0 - 1, true), sale("S1", "at", kT0, true), sale("S1", "after", kT0 + 1, true)});
  const PruneResult p = s->prune(kT0);
  EXPECT_EQ(p.events, 1);
  EXPECT_EQ(p.sales, 1);
  const StoreCounts c = s->counts();
  EXPECT_EQ(c.events, 2);
  EXPECT_EQ(c.sales, 2);
  EXPECT_EQ(c.sale_lines, 4);  // the pruned sale's two lines went with it
  for (const auto& e : s->events({})) EXPECT_GE(e.time_ms, kT0);
}

// Privacy by construction: no column of any table can hold an image, a crop
// or an embedding (no binary type, no array type), and the columns are the
// ones store/store.h and docs/records-and-audit.md list.
TEST_P(StoreTest, NoColumnCanHoldAnImageOrAnEmbedding) {
  auto s = open();
  const auto cols = s->describe_columns();
  // schema 2 + events 20 (terminal since schema 3) + sales 8 + lines 9 + retail households 2 (id and
  // age band only) + products 6 + purchase lines 9 + baskets 9 (schema 4)
  EXPECT_EQ(cols.size(), 65u);
  for (const auto& c : cols) {
    const std::string lower = [&] {
      std::string x = c;
      for (auto& ch : x) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      return x;
    }();
    for (const char* banned : {"blob", "bytea", "array", "[]", "image", "photo", "crop", "embedding", "vector"}) {
      EXPECT_EQ(lower.find(banned), std::string::npos) << c;
    }
    // Nor a shopper's group: demographics are for evaluation only (eval/groups.h).
    for (const char* banned : {"sex", "gender", "ethnic", "race", "skin"}) {
      EXPECT_EQ(lower.find(banned), std::string::npos) << c;
    }
  }
}

RetailData small_retail(int lines) {
  RetailData d;
  d.households = {{"h1", "25-34"}, {"h2", ""}};
  d.products = {{"p1", "GROCERY", "BEERS/ALES", "LAGER", "National", true},
                {"p2", "PRODUCE", "", "", "", false}};
  for (int i = 0; i < lines; ++i) {
    d.lines.push_back({int64_t(i) + 2, "b" + std::to_string(i / 2), i % 3 ? "h1" : "h9", "s1", i % 2 ? "p1" : "p2",
                       1.5, 2.25 + i, 1 + i % 53, kT0 + i});
  }
  return d;
}

TEST_P(StoreTest, RetailDataIsReplacedWholeAndReadsBackAsWritten) {
  auto s = open();
  const RetailData d = small_retail(2500);  // more than one bulk batch
  const RetailWritten w = s->replace_retail(d);
  EXPECT_EQ(w.households, 2);
  EXPECT_EQ(w.products, 2);
  EXPECT_EQ(w.lines, 2500);
  // Importing again replaces: nothing counted twice.
  s->replace_retail(d);
  const StoreCounts c = s->counts();
  EXPECT_EQ(c.retail_households, 2);
  EXPECT_EQ(c.retail_products, 2);
  EXPECT_EQ(c.retail_lines, 2500);
  const RetailData back = s->retail();
  ASSERT_EQ(back.lines.size(), d.lines.size());
  EXPECT_EQ(back.households[0].band, "25-34");
  EXPECT_EQ(back.households[1].band, "");
  EXPECT_TRUE(back.products[0].restricted);
  EXPECT_EQ(back.products[0].type, "LAGER");
  EXPECT_EQ(back.products[1].category, "");
  for (size_t i : {size_t(0), size_t(1), size_t(2499)}) {
    EXPECT_EQ(back.lines[i].source_line, d.lines[i].source_line);
    EXPECT_EQ(back.lines[i].basket, d.lines[i].basket);
    EXPECT_EQ(back.lines[i].household, d.lines[i].household);
    EXPECT_EQ(back.lines[i].product, d.lines[i].product);
    EXPECT_DOUBLE_EQ(back.lines[i].value, d.lines[i].value);
    EXPECT_EQ(back.lines[i].week, d.lines[i].week);
    EXPECT_EQ(back.lines[i].time_ms, d.lines[i].time_ms);
  }
}

TEST_P(StoreTest, AFailedRetailImportLeavesThePreviousDataAsItWas) {
  auto s = open();
  s->replace_retail(small_retail(10));
  RetailData bad = small_retail(20);
  bad.lines.back().source_line = bad.lines.front().source_line;  // the key twice: the database refuses it
  try {
    s->replace_retail(bad);
    FAIL() << "a repeated key was loaded";
  } catch (const IoError& e) {
    // Which step, and the database's own words about the row.
    EXPECT_NE(std::string(e.what()).find("importing retail data"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("retail_lines"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s->counts().retail_lines, 10);
  EXPECT_EQ(s->retail().lines.size(), 10u);
}

// Lines streamed in batches: a source that gives up after two batches
// (the importer's verdict on a bad row near the end of a large file) loads
// nothing, and the previous data and its basket summary stay as they were.
TEST_P(StoreTest, AStreamedImportThatGivesUpHalfwayLoadsNothing) {
  auto s = open();
  const RetailData before = small_retail(10);
  s->replace_retail(before);
  const RetailData big = small_retail(5000);
  int batches = 0;
  try {
    s->replace_retail(big.households, big.products, [&](std::vector<RetailLine>* batch) {
      if (++batches > 2) throw InvalidInput("transactions.csv line 4999: field 'week': 0 is not in 1..53");
      batch->assign(big.lines.begin() + (batches - 1) * 2000, big.lines.begin() + batches * 2000);
      return true;
    });
    FAIL() << "the import went on";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("line 4999"), std::string::npos) << e.what();
  }
  EXPECT_EQ(batches, 3);
  EXPECT_EQ(s->counts().retail_lines, 10);
  EXPECT_EQ(s->retail_counts()->bands(99).size(), retail_counts_of(before)->bands(99).size());
  // A source that finishes loads every batch.
  int given = 0;
  const RetailWritten w = s->replace_retail(big.households, big.products, [&](std::vector<RetailLine>* batch) {
    if (given >= 5000) return false;
    batch->assign(big.lines.begin() + given, big.lines.begin() + given + 1000);
    given += 1000;
    return true;
  });
  EXPECT_EQ(w.lines, 5000);
  EXPECT_EQ(s->counts().retail_lines, 5000);
}

// Text a CSV field may hold (tab, backslash, newline, carriage return,
// quotes, non-ASCII) and doubles to the last bit survive the bulk path of
// either engine (PostgreSQL's COPY text format escapes them).
TEST_P(StoreTest, BulkImportKeepsAwkwardTextAndExactNumbers) {
  auto s = open();
  RetailData d = small_retail(3);
  d.products[1].type = "ICE\tCRUSHED\\CUBED\nBAG\r \"12\" \u00e9t\u00e9 \\N";
  d.products[1].brand = "\\";
  d.lines[0].quantity = 0.1 + 0.2;
  d.lines[1].value = 1.0 / 3.0;
  d.lines[2].value = 123456789.98765432;
  s->replace_retail(d);
  const RetailData back = s->retail();
  ASSERT_EQ(back.products.size(), 2u);
  EXPECT_EQ(back.products[1].type, d.products[1].type);
  EXPECT_EQ(back.products[1].brand, d.products[1].brand);
  ASSERT_EQ(back.lines.size(), 3u);
  EXPECT_EQ(back.lines[0].quantity, d.lines[0].quantity);  // bit for bit
  EXPECT_EQ(back.lines[1].value, d.lines[1].value);
  EXPECT_EQ(back.lines[2].value, d.lines[2].value);
}

TEST_P(StoreTest, AVersionOneDatabaseIsMigratedAndKeepsItsRecords) {
  {
    auto s = open();
    s->record_event(event("S1", "1", kT0));
  }
  {
    // Back to what agegate with schema 1 left: no retail tables, version 1.
    const std::vector<std::string> downgrade = {"DROP TABLE retail_baskets",
                                                "DROP TABLE retail_lines", "DROP TABLE retail_products",
                                                "DROP TABLE retail_households",
                                                "ALTER TABLE checkout_events DROP COLUMN terminal",
                                                "DELETE FROM agegate_schema WHERE version >= 2"};
    for (const auto& sql : downgrade) exec(sql);
  }
  auto s = open();
  EXPECT_EQ(s->schema_version(), kStoreSchemaVersion);  // 1 -> 2 (retail) -> 3 (terminal) -> 4 (baskets)
  EXPECT_EQ(s->counts().events, 1);
  EXPECT_EQ(s->events({}).at(0).terminal, "");
  EXPECT_EQ(s->counts().retail_lines, 0);
  s->replace_retail(small_retail(3));
  EXPECT_EQ(s->counts().retail_lines, 3);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST(StoreUrl, MalformedUrlsAreRefusedAndPasswordsRedacted) {
  EXPECT_THROW(store_backend_of("mysql://x"), InvalidInput);
  EXPECT_THROW(store_backend_of("sqlite:"), InvalidInput);
  EXPECT_EQ(store_backend_of("sqlite:a.db"), StoreBackend::kSqlite);
  EXPECT_EQ(store_backend_of("postgres://h/db"), StoreBackend::kPostgresql);
  EXPECT_EQ(redact_store_url("postgresql://ag:s3cret@db.example:5432/agegate"),
            "postgresql://ag:***@db.example:5432/agegate");
  EXPECT_EQ(redact_store_url("postgresql://db.example/agegate?password=s3cret&sslmode=require"),
            "postgresql://db.example/agegate?password=***&sslmode=require");
  EXPECT_THROW(Store::open("sqlite:/nonexistent-folder/x.db"), IoError);
}

TEST(StoreUrl, AnUnreachablePostgresqlIsAnIoErrorWithoutThePassword) {
  try {
    Store::open("postgresql://ag:s3cret@127.0.0.1:1/agegate?connect_timeout=2");
    FAIL() << "connected to port 1";
  } catch (const IoError& e) {
    EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("***"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace agegate
