// Monthly partitions of the checkout records on PostgreSQL; see partitions.h.
#include "partitions.h"

#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "agegate/core/error.h"
#include "agegate/core/time.h"
#include "store_impl.h"

namespace agegate {
namespace {

// Any fixed number: serialises partition creation and retention between
// services sharing one database.
constexpr long long kPartitionLockKey = 0x61676567617466;

struct Partitioned {
  const char* table;
  const char* time_column;
  const char* primary_key;
  std::vector<const char*> indexes;  // name and definition, "name ON table (...)"
  bool counted;                      // retention reports its rows
};

const std::vector<Partitioned>& partitioned() {
  static const std::vector<Partitioned> t = {
      {"checkout_events",
       "time_ms",
       "event_id, time_ms",
       {"checkout_events_time ON checkout_events (time_ms)",
        "checkout_events_txn ON checkout_events (store_id, transaction_id)",
        "checkout_events_lane ON checkout_events (store_id, lane_id, time_ms)"},
       true},
      {"sales",
       "time_ms",
       "store_id, transaction_id, time_ms",
       {"sales_time ON sales (time_ms)", "sales_txn ON sales (store_id, transaction_id)",
        "sales_store_time ON sales (store_id, time_ms)"},
       true},
      {"sale_lines",
       "sale_time_ms",
       "store_id, transaction_id, line_no, sale_time_ms",
       {"sale_lines_time ON sale_lines (sale_time_ms)"},
       false},
  };
  return t;
}

std::tm utc(int64_t ms) {
  const std::time_t s = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
  std::tm tm{};
  gmtime_r(&s, &tm);
  return tm;
}

std::string partition_name(const std::string& table, int64_t month_start) {
  const std::tm tm = utc(month_start);
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "_%04d_%02d", tm.tm_year + 1900, tm.tm_mon + 1);
  return table + suffix;
}

// The month a partition's name gives (TABLE_YYYY_MM); -1 for another name.
int64_t month_of_partition(const std::string& table, const std::string& name) {
  int year = 0, month = 0;
  char tail = 0;
  if (name.size() != table.size() + 8 || name.compare(0, table.size(), table) != 0 ||
      std::sscanf(name.c_str() + table.size(), "_%4d_%2d%c", &year, &month, &tail) != 2 || month < 1 || month > 12) {
    return -1;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

void create_partition(soci::session& sql, const Partitioned& p, int64_t month) {
  sql << "CREATE TABLE IF NOT EXISTS " + partition_name(p.table, month) + " PARTITION OF " + p.table +
             " FOR VALUES FROM (" + std::to_string(month) + ") TO (" + std::to_string(next_month_start_ms(month)) + ")";
}

}  // namespace

int64_t month_start_ms(int64_t ms) {
  std::tm tm = utc(ms);
  tm.tm_mday = 1;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

int64_t next_month_start_ms(int64_t month_start) {
  std::tm tm = utc(month_start);
  tm.tm_mday = 1;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  tm.tm_mon += 1;  // timegm normalises December + 1
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

void partition_by_month(soci::session& sql) {
  for (const Partitioned& p : partitioned()) {
    const std::string t = p.table, old = t + "_v4";
    sql << "ALTER TABLE " + t + " RENAME TO " + old;
    // Partitions of the old table (a database migrated again) keep out of the new names' way.
    std::vector<std::string> parts;
    std::string part;
    soci::statement ps = (sql.prepare << "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                                         " WHERE i.inhparent = CAST(:t AS regclass)",
                          soci::into(part), soci::use(old));
    ps.execute();
    while (ps.fetch()) parts.push_back(part);
    for (const std::string& x : parts) sql << "ALTER TABLE " + x + " RENAME TO " + x + "_v4";
    sql << "ALTER TABLE " + old + " RENAME CONSTRAINT " + t + "_pkey TO " + old + "_pkey";
    for (const char* index : p.indexes) {
      const std::string def = index;
      sql << "DROP INDEX IF EXISTS " + def.substr(0, def.find(' '));
    }
    sql << "CREATE TABLE " + t + " (LIKE " + old + " INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (" +
               p.time_column + ")";
    sql << "ALTER TABLE " + t + " ADD PRIMARY KEY (" + p.primary_key + ")";
    for (const char* index : p.indexes) sql << std::string("CREATE INDEX ") + index;
    // One partition per month holding a row (the months found by PostgreSQL,
    // their bounds computed here).
    std::vector<long long> months;
    long long m = 0;
    soci::statement st = (sql.prepare << "SELECT DISTINCT CAST(EXTRACT(EPOCH FROM date_trunc('month', to_timestamp(" +
                                             std::string(p.time_column) + " / 1000.0) AT TIME ZONE 'UTC')) * 1000 AS BIGINT) FROM " + old,
                          soci::into(m));
    st.execute();
    while (st.fetch()) months.push_back(m);
    for (long long month : months) create_partition(sql, p, month_start_ms(month));
    sql << "INSERT INTO " + t + " SELECT * FROM " + old;
    sql << "DROP TABLE " + old;
  }
}

void MonthPartitions::ensure(soci::session& sql, int64_t time_ms) {
  const int64_t month = month_start_ms(time_ms);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (made_.count(month)) return;
  }
  Transaction tx(StoreBackend::kPostgresql, sql);
  sql << "SELECT pg_advisory_xact_lock(" + std::to_string(kPartitionLockKey) + ")";
  for (const Partitioned& p : partitioned()) create_partition(sql, p, month);
  tx.commit();
  std::lock_guard<std::mutex> lock(mu_);
  made_.insert(month);
}

PruneResult MonthPartitions::prune(soci::session& sql, int64_t before_ms) {
  PruneResult r;
  Transaction tx(StoreBackend::kPostgresql, sql);
  sql << "SELECT pg_advisory_xact_lock(" + std::to_string(kPartitionLockKey) + ")";
  std::vector<int64_t> dropped;
  for (const Partitioned& p : partitioned()) {
    std::vector<std::string> names;
    std::string name;
    const std::string table = p.table;
    soci::statement st = (sql.prepare << "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                                         " WHERE i.inhparent = CAST(:t AS regclass) ORDER BY c.relname",
                          soci::into(name), soci::use(table));
    st.execute();
    while (st.fetch()) names.push_back(name);
    int64_t* count = table == "checkout_events" ? &r.events : table == "sales" ? &r.sales : nullptr;
    for (const std::string& part : names) {
      const int64_t month = month_of_partition(table, part);
      if (month < 0 || next_month_start_ms(month) > before_ms) continue;
      if (count) {
        long long n = 0;
        sql << "SELECT COUNT(*) FROM " + part, soci::into(n);
        *count += n;
      }
      sql << "DROP TABLE " + part;
      dropped.push_back(month);
    }
    long long t = before_ms;
    soci::statement del = (sql.prepare << "DELETE FROM " + table + " WHERE " + p.time_column + " < :t", soci::use(t));
    del.execute(true);
    if (count) *count += del.get_affected_rows();
  }
  tx.commit();
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t m : dropped) made_.erase(m);
  return r;
}

}  // namespace agegate
