// What store/'s sources share (private to store/): the transaction guard and
// the Store's connection pool with its session runner.
#pragma once
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "agegate/core/error.h"
#include "agegate/core/log.h"
#include "agegate/store/store.h"
#include "partitions.h"

namespace agegate {

// Rolls back unless committed, so an exception never leaves a transaction open
// on a pooled connection.
class Transaction {
 public:
  Transaction(StoreBackend backend, soci::session& sql) : sql_(sql) {
    sql << (backend == StoreBackend::kSqlite ? "BEGIN IMMEDIATE" : "BEGIN");
  }
  ~Transaction() {
    if (!done_) {
      try {
        sql_ << "ROLLBACK";
      } catch (...) {
      }
    }
  }
  void commit() {
    sql_ << "COMMIT";
    done_ = true;
  }

 private:
  soci::session& sql_;
  bool done_ = false;
};

struct Store::Impl {
  StoreBackend backend;
  std::string url;       // redacted
  std::string connect;   // what SOCI is given
  StoreOptions opt;
  std::unique_ptr<soci::connection_pool> pool;
  int version = 0;
  mutable MonthPartitions partitions;  // PostgreSQL: the months whose partitions exist

  const soci::backend_factory& factory() const {
    return backend == StoreBackend::kSqlite ? *soci::factory_sqlite3() : *soci::factory_postgresql();
  }

  IoError failure(const std::string& what, const std::exception& e) const {
    return IoError("database " + url + ": " + what + ": " + e.what());
  }

  void open_session(soci::session& s) const {
    s.open(factory(), connect);
    if (backend == StoreBackend::kSqlite) {
      s << "PRAGMA busy_timeout = " + std::to_string(opt.busy_timeout_ms);
      s << "PRAGMA synchronous = NORMAL";
    }
  }

  // Runs `work` on a leased connection; a PostgreSQL connection that dropped
  // (server restart, network) is re-opened and the work tried once more.
  template <class F>
  auto with_session(const std::string& what, F&& work) const -> decltype(work(std::declval<soci::session&>())) {
    soci::session sql(*pool);
    try {
      return work(sql);
    } catch (const Error&) {
      throw;  // ours (a bad sale, a schema too new) already says what is wrong
    } catch (const std::exception& e) {
      if (backend != StoreBackend::kPostgresql || sql.is_connected()) throw failure(what, e);
      log().warn("database {}: connection lost ({}); reconnecting", url, e.what());
      try {
        sql.reconnect();
        return work(sql);
      } catch (const std::exception& e2) {
        throw failure(what, e2);
      }
    }
  }

  void migrate();
};

// A TimeRange as " WHERE <time> >= :f AND <time> < :to AND (:s1 = '' OR
// <store> = :s2)" (range_sql) and its binds (RangeBinds): absent ends are
// the extremes, so the bounds cover everything the range leaves open.
struct RangeBinds {
  long long from, to;
  std::string store1, store2;
  explicit RangeBinds(const TimeRange& r)
      : from(r.from_ms.value_or(std::numeric_limits<long long>::min())),
        to(r.to_ms.value_or(std::numeric_limits<long long>::max())),
        store1(r.store),
        store2(r.store) {}
};
inline std::string range_sql(const std::string& time_column, const std::string& store_column) {
  return " WHERE " + time_column + " >= :f AND " + time_column + " < :to AND (:s1 = '' OR " + store_column +
         " = :s2)";
}

}  // namespace agegate
