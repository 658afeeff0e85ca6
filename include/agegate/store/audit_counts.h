// What the cashier audit reads from the checkout database (analytics/audit.h),
// in pieces whose size does not grow with the chain: restricted sales matched
// to their camera event by transaction, counted by a GROUP BY per store,
// cashier, day and outcome; and, one store at a time, the restricted sales
// left without such an event with the lane events (no transaction id) they
// may match by time. Store::audit_* in store.h return these.
//
//   TimeRange sales = {from, to, ""}, events = {from - window, to + skew, ""};
//   for (const AuditCountRow& r : store->audit_transaction_counts(sales, events)) ...
//   for (const std::string& s : store->audit_lane_stores(sales, events)) {
//     AuditLaneRecords lane = store->audit_lane_records(s, sales, events);   // then match by lane and time
//   }
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "agegate/store/records.h"

namespace agegate {

// Restricted sales of one (store, cashier, day, outcome) whose transaction
// has a camera event in the events' range; the event is the latest of the
// transaction's (then the largest event id).
struct AuditCountRow {
  std::string store;
  std::string cashier;
  int64_t day = 0;       // days since 1970-01-01 UTC of the sale
  bool asked = false;    // the event's decision is not no_check
  IdCheck id_check = IdCheck::kNotChecked;
  int64_t sales = 0;
};

// One store's restricted sales in range without a transaction-matched
// event (oldest first; lines not read, every one is restricted), and its
// events without a transaction id in the events' range (oldest first).
struct AuditLaneRecords {
  std::vector<Sale> sales;
  std::vector<CheckoutEvent> events;  // id, time, context, model and decision only
};

}  // namespace agegate
