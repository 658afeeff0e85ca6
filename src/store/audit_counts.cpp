// The cashier audit's reads as GROUP BY and per-store queries; see
// store/audit_counts.h.
#include "agegate/store/audit_counts.h"

#include "store_impl.h"

namespace agegate {
namespace {

// Days since 1970-01-01 UTC of a time in ms, rounding down before 1970 too.
constexpr const char* kSaleDay =
    "CASE WHEN s.time_ms >= 0 THEN s.time_ms / 86400000 ELSE -((-s.time_ms + 86399999) / 86400000) END";

// The events that may match: in the events' range, of the range's store.
std::string event_range(const std::string& alias) {
  return alias + ".time_ms >= :ef AND " + alias + ".time_ms < :et AND (:es1 = '' OR " + alias + ".store_id = :es2)";
}

// Restricted sales in range that no event in range matches by transaction;
// `one_store`: of the store bound first (":st", so its index serves; the
// range's own store filter is an OR no index can use).
std::string unmatched_sales_where(bool one_store = false) {
  return (one_store ? " WHERE s.store_id = :st AND s.time_ms >= :f AND s.time_ms < :to"
                    : range_sql("s.time_ms", "s.store_id")) +
         " AND s.restricted_items > 0 AND NOT EXISTS (SELECT 1 FROM checkout_events e WHERE e.store_id = s.store_id"
         " AND e.transaction_id = s.transaction_id AND e.transaction_id <> '' AND " + event_range("e") + ")";
}

}  // namespace

std::vector<AuditCountRow> Store::audit_transaction_counts(const TimeRange& sales, const TimeRange& events) const {
  return impl_->with_session("counting audited sales", [&](soci::session& sql) {
    RangeBinds eb(events), sb(sales);
    std::vector<AuditCountRow> out;
    AuditCountRow r;
    long long day = 0, n = 0;
    int asked = 0;
    std::string check;
    soci::statement st =
        (sql.prepare << "WITH ev AS (SELECT e.store_id, e.transaction_id, e.decision, ROW_NUMBER() OVER"
                        " (PARTITION BY e.store_id, e.transaction_id ORDER BY e.time_ms DESC, e.event_id DESC) AS rn"
                        " FROM checkout_events e WHERE e.transaction_id <> '' AND " +
                            event_range("e") +
                            ") SELECT s.store_id, s.cashier_id, " + kSaleDay +
                            ", CASE WHEN ev.decision <> 'no_check' THEN 1 ELSE 0 END, s.id_check, COUNT(*)"
                            " FROM sales s JOIN ev ON ev.store_id = s.store_id AND ev.transaction_id ="
                            " s.transaction_id AND ev.rn = 1" +
                            range_sql("s.time_ms", "s.store_id") + " AND s.restricted_items > 0 GROUP BY 1, 2, 3, 4, 5",
         soci::into(r.store), soci::into(r.cashier), soci::into(day), soci::into(asked), soci::into(check),
         soci::into(n), soci::use(eb.from), soci::use(eb.to), soci::use(eb.store1), soci::use(eb.store2),
         soci::use(sb.from), soci::use(sb.to), soci::use(sb.store1), soci::use(sb.store2));
    st.execute();
    while (st.fetch()) {
      r.day = day, r.asked = asked != 0, r.sales = n;
      r.id_check = parse_id_check(check, "database " + impl_->url + " sales row");
      out.push_back(r);
    }
    return out;
  });
}

std::vector<std::string> Store::audit_lane_stores(const TimeRange& sales, const TimeRange& events) const {
  return impl_->with_session("listing audited stores", [&](soci::session& sql) {
    RangeBinds sb(sales), eb(events);
    std::vector<std::string> out;
    std::string store;
    soci::statement st = (sql.prepare << "SELECT DISTINCT s.store_id FROM sales s" + unmatched_sales_where() +
                                             " ORDER BY s.store_id",
                          soci::into(store), soci::use(sb.from), soci::use(sb.to), soci::use(sb.store1),
                          soci::use(sb.store2), soci::use(eb.from), soci::use(eb.to), soci::use(eb.store1),
                          soci::use(eb.store2));
    st.execute();
    while (st.fetch()) out.push_back(store);
    return out;
  });
}

AuditLaneRecords Store::audit_lane_records(const std::string& store, const TimeRange& sales,
                                           const TimeRange& events) const {
  return impl_->with_session("reading a store's lane records", [&](soci::session& sql) {
    RangeBinds sb(sales), eb(events);
    std::string st_sales = store, st_events = store;
    AuditLaneRecords out;
    {
      Sale s;
      long long t = 0;
      std::string check;
      soci::statement st =
          (sql.prepare << "SELECT s.store_id, s.transaction_id, s.lane_id, s.cashier_id, s.time_ms, s.id_check FROM sales s" +
                              unmatched_sales_where(true) + " ORDER BY s.time_ms, s.transaction_id",
           soci::into(s.store), soci::into(s.transaction), soci::into(s.lane), soci::into(s.cashier), soci::into(t),
           soci::into(check), soci::use(st_sales), soci::use(sb.from), soci::use(sb.to), soci::use(eb.from),
           soci::use(eb.to), soci::use(eb.store1), soci::use(eb.store2));
      st.execute();
      while (st.fetch()) {
        s.time_ms = t;
        s.id_check = parse_id_check(check, "database " + impl_->url + " sales row");
        out.sales.push_back(s);
      }
    }
    CheckoutEvent e;
    long long t = 0;
    soci::statement st =
        (sql.prepare << "SELECT e.event_id, e.time_ms, e.store_id, e.lane_id, e.model, e.decision FROM checkout_events e"
                        " WHERE e.store_id = :st AND e.transaction_id = '' AND e.time_ms >= :ef AND e.time_ms < :et"
                        " ORDER BY e.time_ms, e.event_id",
         soci::into(e.event_id), soci::into(t), soci::into(e.context.store), soci::into(e.context.lane),
         soci::into(e.model), soci::into(e.decision), soci::use(st_events), soci::use(eb.from), soci::use(eb.to));
    st.execute();
    while (st.fetch()) {
      e.time_ms = t;
      out.events.push_back(e);
    }
    return out;
  });
}

std::vector<std::pair<std::string, int64_t>> Store::event_models(const TimeRange& events) const {
  return impl_->with_session("counting events per model", [&](soci::session& sql) {
    RangeBinds eb(events);
    std::vector<std::pair<std::string, int64_t>> out;
    std::string model;
    long long n = 0;
    soci::statement st = (sql.prepare << "SELECT e.model, COUNT(*) FROM checkout_events e WHERE " + event_range("e") +
                                             " GROUP BY e.model ORDER BY e.model",
                          soci::into(model), soci::into(n), soci::use(eb.from), soci::use(eb.to),
                          soci::use(eb.store1), soci::use(eb.store2));
    st.execute();
    while (st.fetch()) out.push_back({model, n});
    return out;
  });
}

}  // namespace agegate
