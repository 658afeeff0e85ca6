// Monthly partitions of the checkout records on PostgreSQL (private to
// store/): checkout_events and sales by time_ms, sale_lines by sale_time_ms,
// one partition per calendar month (UTC) named TABLE_YYYY_MM, so retention
// drops whole months instead of deleting their rows. SQLite keeps plain
// tables.
//
//   partition_by_month(sql);                       // migration 5: rows kept
//   MonthPartitions parts;                         // a Store's cache of months made
//   parts.ensure(sql, time_ms);                    // before writing a record of that month
//   PruneResult r = parts.prune(sql, before_ms);   // drop older months, delete the rest
#pragma once
#include <soci/soci.h>

#include <cstdint>
#include <mutex>
#include <set>

#include "agegate/store/store.h"

namespace agegate {

// The first millisecond of the UTC month holding `ms`, and of the next one.
int64_t month_start_ms(int64_t ms);
int64_t next_month_start_ms(int64_t month_start);

// Migration 5 on PostgreSQL: the three tables become partitioned by month,
// with a partition for every month holding a row, and every row copied.
// Primary keys gain the time column (PostgreSQL requires it of a
// partitioned table); a sale's (store, transaction) stays unique through
// record_sales(), which skips one already recorded at any time.
void partition_by_month(soci::session& sql);

class MonthPartitions {
 public:
  // Creates the month's partition of each table unless this Store made or
  // saw it already (under an advisory lock, in its own transaction, so
  // concurrent services do not race). Call outside any transaction.
  void ensure(soci::session& sql, int64_t time_ms);
  // In one transaction: drops the partitions whose month ends at or before
  // `before_ms` (their rows counted first) and deletes the older rows of the
  // month holding it.
  PruneResult prune(soci::session& sql, int64_t before_ms);

 private:
  std::mutex mu_;
  std::set<int64_t> made_;  // month starts whose partitions exist
};

}  // namespace agegate
