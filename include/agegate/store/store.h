// The checkout database: checkout events and sales in SQLite (embedded, the
// default) or PostgreSQL (one database for a chain), through SOCI, with one
// schema and one set of statements for both.
//
//   auto store = agegate::Store::open("sqlite:/var/lib/agegate/checkout.db");
//   // or Store::open("postgresql://agegate@db.chain.example/agegate")
//   store->record_event(event);                 // one committed row
//   SalesWritten w = store->record_sales(sales); // all or nothing, duplicates skipped
//   std::vector<Sale> s = store->sales({from, to, "S1"}, /*restricted_only=*/true);
//   store->prune(now_ms() - 90 * kMsPerDay);
//   store->replace_retail(read_retail_dir(dir, {}, &problems));  // purchase data for the insights
//
// The schema is versioned (table agegate_schema) and migrated forward when a
// Store opens; a database written by a newer agegate is refused. Thread-safe:
// every call leases its own connection from a pool, so the service's threads
// write concurrently (SQLite runs in WAL mode with a busy timeout; writers
// queue for its one write lock). Failures throw IoError naming the database
// (never its password); a malformed URL is InvalidInput.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agegate/store/audit_counts.h"
#include "agegate/store/records.h"
#include "agegate/store/retail.h"
#include "agegate/store/retail_counts.h"

namespace agegate {

// 2: retail tables; 3: checkout_events.terminal; 4: retail_baskets; 5: monthly
// partitions of the checkout records on PostgreSQL.
inline constexpr int kStoreSchemaVersion = 5;

struct StoreOptions {
  int connections = 4;       // pool size: concurrent callers beyond this wait
  int busy_timeout_ms = 10000;  // SQLite: how long a writer waits for the lock
};

struct TimeRange {
  std::optional<int64_t> from_ms;  // inclusive
  std::optional<int64_t> to_ms;    // exclusive
  std::string store;               // empty = every store
};

struct SalesWritten {
  int64_t inserted = 0;
  int64_t duplicates = 0;  // (store, transaction) already recorded: left as it was
};

struct PruneResult {
  int64_t events = 0;
  int64_t sales = 0;
};

struct StoreCounts {
  int64_t events = 0;
  int64_t sales = 0;
  int64_t sale_lines = 0;
  int64_t retail_households = 0;
  int64_t retail_products = 0;
  int64_t retail_lines = 0;
};

struct RetailWritten {
  int64_t households = 0;
  int64_t products = 0;
  int64_t lines = 0;
};

// "sqlite:PATH" (PATH may be relative; the folder must exist) or
// "postgresql://..." / "postgres://..." (a libpq URI). InvalidInput otherwise.
enum class StoreBackend { kSqlite, kPostgresql };
StoreBackend store_backend_of(const std::string& url);
// The URL without a password, for logs and messages.
std::string redact_store_url(const std::string& url);

class Store {
 public:
  // Connects, migrates to kStoreSchemaVersion. IoError when the database
  // cannot be reached or is newer than this code.
  static std::unique_ptr<Store> open(const std::string& url, StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  StoreBackend backend() const;
  const std::string& url() const;  // redacted
  int schema_version() const;

  // Commits one event. Its event_id must be set (see new_event_id()); the
  // context must validate. IoError when the database fails.
  void record_event(const CheckoutEvent& event);
  // Validates every sale first (InvalidInput naming the sale and field, nothing
  // written), then writes them in one transaction.
  SalesWritten record_sales(const std::vector<Sale>& sales);

  // Events whose time is in the range, oldest first.
  std::vector<CheckoutEvent> events(const TimeRange& range) const;
  // Sales (with their lines) in the range, oldest first.
  std::vector<Sale> sales(const TimeRange& range, bool restricted_only) const;

  // The cashier audit's reads (audit_counts.h); `sales` and `events` are
  // the ranges of the sales audited and of the events that may match them.
  std::vector<AuditCountRow> audit_transaction_counts(const TimeRange& sales, const TimeRange& events) const;
  // Stores with restricted sales in range that no event matches by transaction.
  std::vector<std::string> audit_lane_stores(const TimeRange& sales, const TimeRange& events) const;
  AuditLaneRecords audit_lane_records(const std::string& store, const TimeRange& sales, const TimeRange& events) const;
  // Events in range per model version.
  std::vector<std::pair<std::string, int64_t>> event_models(const TimeRange& events) const;

  // Replaces the retail data (households, products, purchase lines) with
  // `data` in one transaction: a failure leaves the previous data as it was,
  // and importing the same files twice counts nothing twice.
  RetailWritten replace_retail(const RetailData& data);
  // The same with the lines in batches from `next` (it fills its vector and
  // returns false when none is left; an exception from it loads nothing):
  // memory for a batch, not the file (RetailReader in retail.h).
  using RetailLineSource = std::function<bool(std::vector<RetailLine>*)>;
  RetailWritten replace_retail(const std::vector<RetailHousehold>& households, const std::vector<RetailProduct>& products,
                               const RetailLineSource& next);
  // The retail data, lines in file order.
  RetailData retail() const;
  // The insights' counts, computed by the database (retail_counts.h) from
  // the retail tables and retail_baskets, the per-basket summary that
  // replace_retail() writes in the same transaction. The result holds no
  // connection between calls and must not outlive the Store.
  std::unique_ptr<RetailCounts> retail_counts() const;

  // Deletes events and sales older than `before_ms` (retail data is history
  // the chain imported on purpose and is kept).
  PruneResult prune(int64_t before_ms);
  StoreCounts counts() const;

  // Every column of every agegate table as "table.column type" (the privacy
  // test reads it to prove no column can hold an image or a template).
  std::vector<std::string> describe_columns() const;

 private:
  struct Impl;
  friend class SqlRetailCounts;  // retail_counts(): its queries run on the pool
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// 32 random hex digits (128 bits from std::random_device). Thread-safe.
std::string new_event_id();

}  // namespace agegate
