// The checkout database over SOCI (SQLite and PostgreSQL); see store/store.h.
#include "agegate/store/store.h"

#include <libpq-fe.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <random>

#include "agegate/core/error.h"
#include "agegate/core/progress.h"
#include "agegate/core/log.h"
#include "agegate/core/time.h"
#include "pg_copy.h"
#include "partitions.h"
#include "store_impl.h"

namespace agegate {
namespace {

constexpr const char* kSqlitePrefix = "sqlite:";
// Any fixed number: PostgreSQL's advisory lock that serialises migrations
// when several services start against one database at once.
constexpr long long kMigrationLockKey = 0x61676567617465;  // "agegate"

// Migration N takes the schema from N-1 to N; there are exactly
// kStoreSchemaVersion of them (the array's size: one more without raising
// the version does not compile; a version raised without one is refused at
// the first migration). Types are the ones both engines
// read the same way: TEXT, BIGINT (int64), DOUBLE PRECISION, INTEGER.
// Ids absent from a record are '' rather than NULL, so matching is plain
// equality; numbers absent (no face) are NULL.
// A migration's SQL runs on both engines; `postgresql`, when set, runs after
// it on PostgreSQL only (work that needs more than fixed statements).
struct Migration {
  std::vector<std::string> statements;
  void (*postgresql)(soci::session&) = nullptr;
};

constexpr const char* kRetailLinesBasketIndex = "CREATE INDEX retail_lines_basket ON retail_lines (basket_id, product_id)";
constexpr const char* kRetailBasketsHouseholdIndex =
    "CREATE INDEX retail_baskets_household ON retail_baskets (household_id, week)";

// Each basket of retail_lines summarised into retail_baskets; its household
// is its first line's (the lowest source_line, as in memory).
constexpr const char* kFillRetailBaskets =
    "INSERT INTO retail_baskets (basket_id, household_id, week, lines, categories, restricted_lines, unknown_lines,"
    " spend, restricted_spend)"
    " SELECT b.basket_id, f.household_id, b.week, b.lines, b.categories, b.restricted_lines, b.unknown_lines,"
    " b.spend, b.restricted_spend FROM ("
    " SELECT l.basket_id, MIN(l.source_line) AS first_line, MAX(l.week) AS week, COUNT(*) AS lines,"
    " COUNT(DISTINCT NULLIF(p.category, '')) AS categories,"
    " SUM(CASE WHEN p.restricted = 1 THEN 1 ELSE 0 END) AS restricted_lines,"
    " SUM(CASE WHEN p.product_id IS NULL THEN 1 ELSE 0 END) AS unknown_lines, SUM(l.sales_value) AS spend,"
    " SUM(CASE WHEN p.restricted = 1 THEN l.sales_value ELSE 0 END) AS restricted_spend"
    " FROM retail_lines l LEFT JOIN retail_products p ON p.product_id = l.product_id GROUP BY l.basket_id) b"
    " JOIN retail_lines f ON f.source_line = b.first_line";
const std::array<Migration, kStoreSchemaVersion>& migrations() {
  static const std::array<Migration, kStoreSchemaVersion> m = {{
      {{
          "CREATE TABLE checkout_events ("
          " event_id TEXT PRIMARY KEY,"
          " time_ms BIGINT NOT NULL,"
          " store_id TEXT NOT NULL, lane_id TEXT NOT NULL,"
          " transaction_id TEXT NOT NULL DEFAULT '', cashier_id TEXT NOT NULL DEFAULT '',"
          " model TEXT NOT NULL, policy TEXT NOT NULL,"
          " faces INTEGER NOT NULL,"
          " decision TEXT NOT NULL, reason TEXT NOT NULL,"
          " estimate DOUBLE PRECISION, age_low DOUBLE PRECISION, age_high DOUBLE PRECISION,"
          " p_under_legal DOUBLE PRECISION,"
          " decode_ms DOUBLE PRECISION NOT NULL, detect_ms DOUBLE PRECISION NOT NULL,"
          " estimate_ms DOUBLE PRECISION NOT NULL, total_ms DOUBLE PRECISION NOT NULL)",
          "CREATE INDEX checkout_events_time ON checkout_events (time_ms)",
          "CREATE INDEX checkout_events_txn ON checkout_events (store_id, transaction_id)",
          "CREATE INDEX checkout_events_lane ON checkout_events (store_id, lane_id, time_ms)",
          "CREATE TABLE sales ("
          " store_id TEXT NOT NULL, transaction_id TEXT NOT NULL,"
          " lane_id TEXT NOT NULL, cashier_id TEXT NOT NULL,"
          " time_ms BIGINT NOT NULL,"
          " id_check TEXT NOT NULL CHECK (id_check IN ('adult', 'refused', 'not_checked')),"
          " restricted_items INTEGER NOT NULL, total DOUBLE PRECISION NOT NULL,"
          " PRIMARY KEY (store_id, transaction_id))",
          "CREATE INDEX sales_time ON sales (time_ms)",
          "CREATE TABLE sale_lines ("
          " store_id TEXT NOT NULL, transaction_id TEXT NOT NULL, line_no INTEGER NOT NULL,"
          " sale_time_ms BIGINT NOT NULL,"
          " product_id TEXT NOT NULL, category TEXT NOT NULL,"
          " quantity DOUBLE PRECISION NOT NULL, price DOUBLE PRECISION NOT NULL, restricted INTEGER NOT NULL,"
          " PRIMARY KEY (store_id, transaction_id, line_no))",
          "CREATE INDEX sale_lines_time ON sale_lines (sale_time_ms)",
      }},
      {{
          // Retail purchase data for the age-group insights (store/retail.h):
          // a household keeps only its id and age band.
          "CREATE TABLE retail_households (household_id TEXT PRIMARY KEY, age_band TEXT NOT NULL)",
          "CREATE TABLE retail_products ("
          " product_id TEXT PRIMARY KEY, department TEXT NOT NULL, category TEXT NOT NULL,"
          " product_type TEXT NOT NULL, brand TEXT NOT NULL, restricted INTEGER NOT NULL)",
          "CREATE TABLE retail_lines ("
          " source_line BIGINT PRIMARY KEY, basket_id TEXT NOT NULL, household_id TEXT NOT NULL,"
          " store_id TEXT NOT NULL, product_id TEXT NOT NULL,"
          " quantity DOUBLE PRECISION NOT NULL, sales_value DOUBLE PRECISION NOT NULL,"
          " week INTEGER NOT NULL, time_ms BIGINT NOT NULL)",
      }},
      {{
          // The checkout terminal that sent the photo, as its TLS client
          // certificate names it (serve --tls-client-ca); '' without one.
          "ALTER TABLE checkout_events ADD COLUMN terminal TEXT NOT NULL DEFAULT ''",
      }},
      {{
          // One row per retail basket, what the insights' GROUP BY queries
          // start from (retail_counts.h); filled from the lines already
          // there, and by replace_retail() from then on.
          "CREATE TABLE retail_baskets ("
          " basket_id TEXT PRIMARY KEY, household_id TEXT NOT NULL, week INTEGER NOT NULL,"
          " lines BIGINT NOT NULL, categories INTEGER NOT NULL,"
          " restricted_lines BIGINT NOT NULL, unknown_lines BIGINT NOT NULL,"
          " spend DOUBLE PRECISION NOT NULL, restricted_spend DOUBLE PRECISION NOT NULL)",
          kRetailBasketsHouseholdIndex,
          kRetailLinesBasketIndex,
          kFillRetailBaskets,
      }},
      {
          // A store's sales by time (the audit reads one store at a time).
          // PostgreSQL: checkout events, sales and their lines partitioned
          // by month (partitions.h), so retention drops whole months.
          {"CREATE INDEX IF NOT EXISTS sales_store_time ON sales (store_id, time_ms)"},
          partition_by_month,
      },
  }};
  return m;
}

const std::vector<std::string> kTables = {"agegate_schema",    "checkout_events", "sales",        "sale_lines",
                                          "retail_households", "retail_products", "retail_lines", "retail_baskets"};
constexpr size_t kBulkRows = 1000;  // rows bound per statement execution on import

soci::indicator ind_of(const std::optional<double>& v) { return v ? soci::i_ok : soci::i_null; }
std::optional<double> opt_of(double v, soci::indicator ind) {
  return ind == soci::i_ok ? std::optional<double>(v) : std::nullopt;
}

// libpq reads a postgresql:// URI, but SOCI rewrites the connection string it
// is given as keyword=value pairs; so the URI is parsed by libpq itself and
// handed on in that form. InvalidInput when libpq cannot parse it.
std::string postgres_keywords(const std::string& url, const std::string& redacted) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (!opts) {
    std::string why = err ? err : "cannot parse";
    if (err) PQfreemem(err);
    throw InvalidInput("--db: '" + redacted + "': " + why);
  }
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (!o->val) continue;
    std::string v;
    for (const char* c = o->val; *c; ++c) {
      if (*c == '\\' || *c == '\'') v += '\\';
      v += *c;
    }
    out += std::string(out.empty() ? "" : " ") + o->keyword + "='" + v + "'";
  }
  PQconninfoFree(opts);
  return out;
}

}  // namespace

StoreBackend store_backend_of(const std::string& url) {
  if (url.rfind(kSqlitePrefix, 0) == 0) {
    if (url.size() == std::string(kSqlitePrefix).size()) throw InvalidInput("--db: sqlite: needs a file path (sqlite:PATH)");
    return StoreBackend::kSqlite;
  }
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) return StoreBackend::kPostgresql;
  throw InvalidInput("--db: '" + redact_store_url(url) + "' is neither sqlite:PATH nor postgresql://...");
}

std::string redact_store_url(const std::string& url) {
  // postgresql://user:secret@host/db -> postgresql://user:***@host/db
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const size_t at = url.find('@', scheme + 3);
  const size_t colon = url.find(':', scheme + 3);
  std::string out = url;
  if (at != std::string::npos && colon != std::string::npos && colon < at) {
    out = url.substr(0, colon + 1) + "***" + url.substr(at);
  }
  const size_t pw = out.find("password=");
  if (pw != std::string::npos) {
    const size_t end = out.find_first_of("& ", pw);
    out = out.substr(0, pw + 9) + "***" + (end == std::string::npos ? "" : out.substr(end));
  }
  return out;
}


void Store::Impl::migrate() {
  with_session("migrating the schema", [&](soci::session& sql) {
    if (backend == StoreBackend::kSqlite) sql << "PRAGMA journal_mode = WAL";
    Transaction tx(backend, sql);
    if (backend == StoreBackend::kPostgresql) sql << "SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")";
    sql << "CREATE TABLE IF NOT EXISTS agegate_schema (version INTEGER NOT NULL, applied_ms BIGINT NOT NULL)";
    int current = 0;
    soci::indicator ind = soci::i_ok;
    sql << "SELECT MAX(version) FROM agegate_schema", soci::into(current, ind);
    if (ind != soci::i_ok) current = 0;
    const int known = kStoreSchemaVersion;
    if (current > known) {
      throw IoError("database " + url + " has schema version " + std::to_string(current) +
                    ", newer than this agegate knows (" + std::to_string(known) + "); upgrade agegate");
    }
    for (int v = current + 1; v <= known; ++v) {
      const Migration& m = migrations()[v - 1];
      if (m.statements.empty() && !m.postgresql) {
        throw IoError("agegate has no migration to schema version " + std::to_string(v));
      }
      for (const auto& statement : m.statements) sql << statement;
      if (m.postgresql && backend == StoreBackend::kPostgresql) m.postgresql(sql);
      long long now = now_ms();
      sql << "INSERT INTO agegate_schema (version, applied_ms) VALUES (:v, :t)", soci::use(v), soci::use(now);
      log().info("database {}: schema migrated to version {}", url, v);
    }
    tx.commit();
    version = known;
    return 0;
  });
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

std::unique_ptr<Store> Store::open(const std::string& url, StoreOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->backend = store_backend_of(url);
  impl->url = redact_store_url(url);
  impl->opt = options;
  if (options.connections < 1) throw InvalidInput("store: connections must be >= 1");
  if (impl->backend == StoreBackend::kSqlite) {
    const std::filesystem::path path = url.substr(std::string(kSqlitePrefix).size());
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    if (!std::filesystem::is_directory(dir)) {
      throw IoError("database " + impl->url + ": folder " + dir.string() + " does not exist");
    }
    if (path.string().find('"') != std::string::npos) throw InvalidInput("--db: a sqlite path may not contain '\"'");
    impl->connect = "db=\"" + path.string() + "\"";  // busy timeout: PRAGMA in open_session()
  } else {
    impl->connect = postgres_keywords(url, impl->url);
  }
  impl->pool = std::make_unique<soci::connection_pool>(static_cast<size_t>(options.connections));
  for (int i = 0; i < options.connections; ++i) {
    try {
      impl->open_session(impl->pool->at(static_cast<size_t>(i)));
    } catch (const std::exception& e) {
      throw impl->failure("cannot connect", e);
    }
  }
  impl->migrate();
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

StoreBackend Store::backend() const { return impl_->backend; }
const std::string& Store::url() const { return impl_->url; }
int Store::schema_version() const { return impl_->version; }

void Store::record_event(const CheckoutEvent& e) {
  e.context.validate("checkout event");
  // A certificate subject: printable ASCII, bounded (it names a till).
  constexpr size_t kMaxTerminal = 256;
  if (e.terminal.size() > kMaxTerminal ||
      std::any_of(e.terminal.begin(), e.terminal.end(), [](char c) { return c < ' ' || c > '~'; })) {
    throw InvalidInput("checkout event: terminal must be printable ASCII of at most 256 characters");
  }
  AGEGATE_CHECK(!e.event_id.empty(), "event without id");
  impl_->with_session("recording a checkout event", [&](soci::session& sql) {
    if (impl_->backend == StoreBackend::kPostgresql) impl_->partitions.ensure(sql, e.time_ms);
    long long t = e.time_ms;
    int faces = e.faces;
    double est = e.estimate.value_or(0), low = e.low.value_or(0), high = e.high.value_or(0),
           p = e.p_under_legal.value_or(0);
    soci::indicator i_est = ind_of(e.estimate), i_low = ind_of(e.low), i_high = ind_of(e.high),
                    i_p = ind_of(e.p_under_legal);
    sql << "INSERT INTO checkout_events (event_id, time_ms, store_id, lane_id, transaction_id, cashier_id, model, "
           "policy, faces, decision, reason, estimate, age_low, age_high, p_under_legal, decode_ms, detect_ms, "
           "estimate_ms, total_ms, terminal) VALUES (:id, :t, :s, :l, :x, :c, :m, :pol, :f, :d, :r, :e, :lo, :hi, :p, "
           ":dec, :det, :est, :tot, :term)",
        soci::use(e.event_id), soci::use(t), soci::use(e.context.store), soci::use(e.context.lane),
        soci::use(e.context.transaction), soci::use(e.context.cashier), soci::use(e.model), soci::use(e.policy),
        soci::use(faces), soci::use(e.decision), soci::use(e.reason), soci::use(est, i_est), soci::use(low, i_low),
        soci::use(high, i_high), soci::use(p, i_p), soci::use(e.decode_ms), soci::use(e.detect_ms),
        soci::use(e.estimate_ms), soci::use(e.total_ms), soci::use(e.terminal);
    return 0;
  });
}

SalesWritten Store::record_sales(const std::vector<Sale>& sales) {
  for (size_t i = 0; i < sales.size(); ++i) sales[i].validate("sale " + std::to_string(i + 1));
  return impl_->with_session("recording sales", [&](soci::session& sql) {
    SalesWritten w;
    if (impl_->backend == StoreBackend::kPostgresql) {
      for (const Sale& s : sales) impl_->partitions.ensure(sql, s.time_ms);
    }
    Transaction tx(impl_->backend, sql);
    std::string store, txn, lane, cashier, check, product, category;
    long long t = 0;
    int restricted_items = 0, line_no = 0, restricted = 0;
    double total = 0, quantity = 0, price = 0;
    soci::statement insert_sale =
        (sql.prepare << "INSERT INTO sales (store_id, transaction_id, lane_id, cashier_id, time_ms, id_check, "
                        "restricted_items, total) SELECT :s, :x, :l, :c, CAST(:t AS BIGINT), :k, CAST(:r AS INTEGER), "
                        "CAST(:tot AS DOUBLE PRECISION) WHERE NOT EXISTS (SELECT 1 FROM sales WHERE store_id = :s2 "
                        "AND transaction_id = :x2) ON CONFLICT DO NOTHING",
         soci::use(store), soci::use(txn), soci::use(lane), soci::use(cashier), soci::use(t), soci::use(check),
         soci::use(restricted_items), soci::use(total), soci::use(store), soci::use(txn));
    soci::statement insert_line =
        (sql.prepare << "INSERT INTO sale_lines (store_id, transaction_id, line_no, sale_time_ms, product_id, "
                        "category, quantity, price, restricted) VALUES (:s, :x, :n, :t, :p, :c, :q, :pr, :r)",
         soci::use(store), soci::use(txn), soci::use(line_no), soci::use(t), soci::use(product), soci::use(category),
         soci::use(quantity), soci::use(price), soci::use(restricted));
    for (const Sale& s : sales) {
      store = s.store;
      txn = s.transaction;
      lane = s.lane;
      cashier = s.cashier;
      t = s.time_ms;
      check = to_string(s.id_check);
      restricted_items = 0;
      for (const auto& l : s.lines) restricted_items += l.restricted ? 1 : 0;
      total = s.total();
      insert_sale.execute(true);
      if (insert_sale.get_affected_rows() == 0) {
        w.duplicates++;
        continue;
      }
      w.inserted++;
      for (size_t i = 0; i < s.lines.size(); ++i) {
        line_no = static_cast<int>(i);
        product = s.lines[i].product;
        category = s.lines[i].category;
        quantity = s.lines[i].quantity;
        price = s.lines[i].price;
        restricted = s.lines[i].restricted ? 1 : 0;
        insert_line.execute(true);
      }
    }
    tx.commit();
    return w;
  });
}


std::vector<CheckoutEvent> Store::events(const TimeRange& range) const {
  return impl_->with_session("reading checkout events", [&](soci::session& sql) {
    RangeBinds b(range);
    std::vector<CheckoutEvent> out;
    CheckoutEvent e;
    long long t = 0;
    double est = 0, low = 0, high = 0, p = 0;
    soci::indicator i_est, i_low, i_high, i_p;
    soci::statement st =
        (sql.prepare << "SELECT event_id, time_ms, store_id, lane_id, transaction_id, cashier_id, model, policy, "
                        "faces, decision, reason, estimate, age_low, age_high, p_under_legal, decode_ms, detect_ms, "
                        "estimate_ms, total_ms, terminal FROM checkout_events" +
                            range_sql("time_ms", "store_id") + " ORDER BY time_ms, event_id",
         soci::into(e.event_id), soci::into(t), soci::into(e.context.store), soci::into(e.context.lane),
         soci::into(e.context.transaction), soci::into(e.context.cashier), soci::into(e.model), soci::into(e.policy),
         soci::into(e.faces), soci::into(e.decision), soci::into(e.reason), soci::into(est, i_est),
         soci::into(low, i_low), soci::into(high, i_high), soci::into(p, i_p), soci::into(e.decode_ms),
         soci::into(e.detect_ms), soci::into(e.estimate_ms), soci::into(e.total_ms), soci::into(e.terminal),
         soci::use(b.from),
         soci::use(b.to), soci::use(b.store1), soci::use(b.store2));
    st.execute();
    while (st.fetch()) {
      e.time_ms = t;
      e.estimate = opt_of(est, i_est);
      e.low = opt_of(low, i_low);
      e.high = opt_of(high, i_high);
      e.p_under_legal = opt_of(p, i_p);
      out.push_back(e);
    }
    return out;
  });
}

std::vector<Sale> Store::sales(const TimeRange& range, bool restricted_only) const {
  return impl_->with_session("reading sales", [&](soci::session& sql) {
    RangeBinds b(range);
    const std::string only = restricted_only ? " AND s.restricted_items > 0" : "";
    std::vector<Sale> out;
    std::map<std::pair<std::string, std::string>, size_t> index;
    {
      Sale s;
      long long t = 0;
      std::string check;
      soci::statement st =
          (sql.prepare << "SELECT s.store_id, s.transaction_id, s.lane_id, s.cashier_id, s.time_ms, s.id_check "
                          "FROM sales s" +
                              range_sql("s.time_ms", "s.store_id") + only +
                              " ORDER BY s.time_ms, s.store_id, s.transaction_id",
           soci::into(s.store), soci::into(s.transaction), soci::into(s.lane), soci::into(s.cashier), soci::into(t),
           soci::into(check), soci::use(b.from), soci::use(b.to), soci::use(b.store1), soci::use(b.store2));
      st.execute();
      while (st.fetch()) {
        s.time_ms = t;
        s.id_check = parse_id_check(check, "database " + impl_->url + " sales row");
        index[{s.store, s.transaction}] = out.size();
        out.push_back(s);
      }
    }
    std::string store, txn;
    SaleLine l;
    int restricted = 0;
    soci::statement st =
        (sql.prepare << "SELECT l.store_id, l.transaction_id, l.product_id, l.category, l.quantity, l.price, "
                        "l.restricted FROM sale_lines l JOIN sales s ON s.store_id = l.store_id AND "
                        "s.transaction_id = l.transaction_id" +
                            range_sql("s.time_ms", "s.store_id") + only + " ORDER BY l.store_id, l.transaction_id, l.line_no",
         soci::into(store), soci::into(txn), soci::into(l.product), soci::into(l.category), soci::into(l.quantity),
         soci::into(l.price), soci::into(restricted), soci::use(b.from), soci::use(b.to), soci::use(b.store1),
         soci::use(b.store2));
    st.execute();
    while (st.fetch()) {
      l.restricted = restricted != 0;
      auto it = index.find({store, txn});
      if (it != index.end()) out[it->second].lines.push_back(l);
    }
    return out;
  });
}

namespace {

// Rows go in batches bound as vectors, each batch one prepared statement
// (SQLite: fast inside the one transaction). The statement is prepared for
// each batch after its vectors are filled: SOCI 4.0's PostgreSQL backend
// crashes when a prepared bulk statement's vectors change size between
// executions.
void insert_catalogue(soci::session& sql, const std::vector<RetailHousehold>& households,
                      const std::vector<RetailProduct>& products) {
  for (size_t i = 0; i < households.size(); i += kBulkRows) {
    std::vector<std::string> id, band;
    for (size_t j = i; j < std::min(households.size(), i + kBulkRows); ++j) {
      id.push_back(households[j].id);
      band.push_back(households[j].band);
    }
    sql << "INSERT INTO retail_households (household_id, age_band) VALUES (:i, :b)", soci::use(id), soci::use(band);
  }
  for (size_t i = 0; i < products.size(); i += kBulkRows) {
    std::vector<std::string> id, dep, cat, type, brand;
    std::vector<int> restricted;
    for (size_t j = i; j < std::min(products.size(), i + kBulkRows); ++j) {
      const RetailProduct& p = products[j];
      id.push_back(p.id), dep.push_back(p.department), cat.push_back(p.category), type.push_back(p.type);
      brand.push_back(p.brand), restricted.push_back(p.restricted ? 1 : 0);
    }
    sql << "INSERT INTO retail_products (product_id, department, category, product_type, brand, restricted) "
           "VALUES (:i, :d, :c, :t, :b, :r)",
        soci::use(id), soci::use(dep), soci::use(cat), soci::use(type), soci::use(brand), soci::use(restricted);
  }
}

void insert_lines(soci::session& sql, const std::vector<RetailLine>& lines) {
  for (size_t i = 0; i < lines.size(); i += kBulkRows) {
    std::vector<long long> line, time;
    std::vector<std::string> basket, household, store, product;
    std::vector<double> quantity, value;
    std::vector<int> week;
    for (size_t j = i; j < std::min(lines.size(), i + kBulkRows); ++j) {
      const RetailLine& l = lines[j];
      line.push_back(l.source_line), time.push_back(l.time_ms), basket.push_back(l.basket);
      household.push_back(l.household), store.push_back(l.store), product.push_back(l.product);
      quantity.push_back(l.quantity), value.push_back(l.value), week.push_back(l.week);
    }
    sql << "INSERT INTO retail_lines (source_line, basket_id, household_id, store_id, product_id, quantity, "
           "sales_value, week, time_ms) VALUES (:n, :b, :h, :s, :p, :q, :v, :w, :t)",
        soci::use(line), soci::use(basket), soci::use(household), soci::use(store), soci::use(product),
        soci::use(quantity), soci::use(value), soci::use(week), soci::use(time);
  }
}

// PostgreSQL: COPY FROM STDIN (pg_copy.h), on the same connection and so in
// the same transaction; sending bound rows one statement at a time ran at
// about 4,000 lines/s.
void copy_catalogue(soci::session& sql, const std::vector<RetailHousehold>& households,
                    const std::vector<RetailProduct>& products) {
  {
    PgCopy copy(sql, "retail_households (household_id, age_band)");
    for (const auto& h : households) copy.row(h.id, h.band);
    copy.finish();
  }
  PgCopy copy(sql, "retail_products (product_id, department, category, product_type, brand, restricted)");
  for (const auto& p : products) copy.row(p.id, p.department, p.category, p.type, p.brand, int64_t{p.restricted});
  copy.finish();
}

// Every batch of `next` into retail_lines; returns the lines written.
int64_t write_lines(soci::session& sql, StoreBackend backend, const Store::RetailLineSource& next, Progress& progress) {
  std::vector<RetailLine> batch;
  int64_t n = 0;
  std::optional<PgCopy> copy;
  if (backend == StoreBackend::kPostgresql) {
    copy.emplace(sql, "retail_lines (source_line, basket_id, household_id, store_id, product_id, quantity, "
                      "sales_value, week, time_ms)");
  }
  while (next(&batch)) {
    if (copy) {
      for (const auto& l : batch) {
        copy->row(l.source_line, l.basket, l.household, l.store, l.product, l.quantity, l.value, int64_t{l.week},
                  l.time_ms);
      }
    } else {
      insert_lines(sql, batch);
    }
    n += static_cast<int64_t>(batch.size());
    progress.update(n);
  }
  if (copy) copy->finish();
  return n;
}

}  // namespace

RetailWritten Store::replace_retail(const RetailData& d) {
  size_t at = 0;
  return replace_retail(d.households, d.products, [&](std::vector<RetailLine>* batch) {
    const size_t end = std::min(d.lines.size(), at + 65536);
    batch->assign(d.lines.begin() + static_cast<std::ptrdiff_t>(at), d.lines.begin() + static_cast<std::ptrdiff_t>(end));
    at = end;
    return !batch->empty();
  });
}

RetailWritten Store::replace_retail(const std::vector<RetailHousehold>& households,
                                    const std::vector<RetailProduct>& products, const RetailLineSource& next) {
  return impl_->with_session("importing retail data", [&](soci::session& sql) {
    Progress progress("import", 0, "lines");
    Transaction tx(impl_->backend, sql);
    sql << "DELETE FROM retail_baskets";
    sql << "DELETE FROM retail_lines";
    sql << "DELETE FROM retail_products";
    sql << "DELETE FROM retail_households";
    // The secondary indexes are built once after the rows are in, not row by
    // row (SQLite took five times as long with them in place at 10M lines).
    sql << "DROP INDEX IF EXISTS retail_lines_basket";
    sql << "DROP INDEX IF EXISTS retail_baskets_household";
    int64_t lines = 0;
    try {
      if (impl_->backend == StoreBackend::kPostgresql) copy_catalogue(sql, households, products);
      else insert_catalogue(sql, households, products);
      lines = write_lines(sql, impl_->backend, next, progress);
    } catch (const IoError& e) {
      throw impl_->failure("importing retail data", e);
    }
    sql << kRetailLinesBasketIndex;
    sql << kFillRetailBaskets;
    sql << kRetailBasketsHouseholdIndex;
    if (impl_->backend == StoreBackend::kPostgresql) {
      sql << "ANALYZE retail_households, retail_products, retail_lines, retail_baskets";
    }
    tx.commit();
    progress.update(lines, "", /*force=*/true);
    progress.finish();
    return RetailWritten{static_cast<int64_t>(households.size()), static_cast<int64_t>(products.size()), lines};
  });
}

RetailData Store::retail() const {
  return impl_->with_session("reading retail data", [&](soci::session& sql) {
    RetailData d;
    {
      RetailHousehold h;
      soci::statement st = (sql.prepare << "SELECT household_id, age_band FROM retail_households ORDER BY household_id",
                            soci::into(h.id), soci::into(h.band));
      st.execute();
      while (st.fetch()) d.households.push_back(h);
    }
    {
      RetailProduct p;
      int restricted = 0;
      soci::statement st =
          (sql.prepare << "SELECT product_id, department, category, product_type, brand, restricted FROM "
                          "retail_products ORDER BY product_id",
           soci::into(p.id), soci::into(p.department), soci::into(p.category), soci::into(p.type), soci::into(p.brand),
           soci::into(restricted));
      st.execute();
      while (st.fetch()) {
        p.restricted = restricted != 0;
        d.products.push_back(p);
      }
    }
    {
      RetailLine l;
      long long line = 0, time = 0;
      soci::statement st =
          (sql.prepare << "SELECT source_line, basket_id, household_id, store_id, product_id, quantity, sales_value, "
                          "week, time_ms FROM retail_lines ORDER BY source_line",
           soci::into(line), soci::into(l.basket), soci::into(l.household), soci::into(l.store), soci::into(l.product),
           soci::into(l.quantity), soci::into(l.value), soci::into(l.week), soci::into(time));
      st.execute();
      while (st.fetch()) {
        l.source_line = line;
        l.time_ms = time;
        d.lines.push_back(l);
      }
    }
    return d;
  });
}

PruneResult Store::prune(int64_t before_ms) {
  return impl_->with_session("pruning", [&](soci::session& sql) {
    if (impl_->backend == StoreBackend::kPostgresql) return impl_->partitions.prune(sql, before_ms);
    PruneResult r;
    long long t = before_ms;
    Transaction tx(impl_->backend, sql);
    soci::statement ev = (sql.prepare << "DELETE FROM checkout_events WHERE time_ms < :t", soci::use(t));
    ev.execute(true);
    r.events = ev.get_affected_rows();
    sql << "DELETE FROM sale_lines WHERE sale_time_ms < :t", soci::use(t);
    soci::statement sa = (sql.prepare << "DELETE FROM sales WHERE time_ms < :t", soci::use(t));
    sa.execute(true);
    r.sales = sa.get_affected_rows();
    tx.commit();
    return r;
  });
}

StoreCounts Store::counts() const {
  return impl_->with_session("counting", [&](soci::session& sql) {
    StoreCounts c;
    const std::pair<const char*, int64_t StoreCounts::*> tables[] = {
        {"checkout_events", &StoreCounts::events},         {"sales", &StoreCounts::sales},
        {"sale_lines", &StoreCounts::sale_lines},          {"retail_households", &StoreCounts::retail_households},
        {"retail_products", &StoreCounts::retail_products}, {"retail_lines", &StoreCounts::retail_lines}};
    for (const auto& [table, field] : tables) {
      long long n = 0;
      sql << std::string("SELECT COUNT(*) FROM ") + table, soci::into(n);
      c.*field = n;
    }
    return c;
  });
}

std::vector<std::string> Store::describe_columns() const {
  return impl_->with_session("describing the schema", [&](soci::session& sql) {
    std::vector<std::string> out;
    for (const std::string& table : kTables) {
      std::string name, type;
      const std::string q =
          impl_->backend == StoreBackend::kSqlite
              ? "SELECT name, type FROM pragma_table_info('" + table + "') ORDER BY cid"
              : "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = '" + table + "' ORDER BY ordinal_position";
      soci::statement st = (sql.prepare << q, soci::into(name), soci::into(type));
      st.execute();
      while (st.fetch()) out.push_back(table + "." + name + " " + type);
    }
    return out;
  });
}

std::string new_event_id() {
  thread_local std::random_device source;  // libstdc++: the CPU or OS random source, set up once per thread
  char hex[33];
  for (int i = 0; i < 4; ++i) std::snprintf(hex + 8 * i, 9, "%08x", static_cast<unsigned>(source()));
  return std::string(hex, 32);
}

}  // namespace agegate
