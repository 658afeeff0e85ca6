// What the checkout database holds: checkout events (one estimate made at a
// till, with its context) and sales (what the till sold and what the cashier
// recorded about ID). Decisions, never faces: no field can hold an image, a
// crop or an embedding, and every id is an opaque string the retailer chose.
//
//   Sale s = parse_sale(json::parse(body), "POST /v1/sales");   // InvalidInput names the field
//   std::vector<SaleProblem> bad;
//   std::vector<Sale> sales = read_sales_file("day.csv", &bad);  // CSV or JSON Lines
//
// Plain values; thread-safe to copy and read.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace agegate {

inline constexpr size_t kMaxIdLength = 64;  // store, lane, transaction, cashier, product ids

// An opaque id: at most kMaxIdLength letters, digits and - _ . : / (so no
// free text, such as a name, can be stored as one). InvalidInput
// "<where>: field '<field>' ..." when not, or when empty and `required`.
void validate_id(const std::string& value, const std::string& where, const std::string& field, bool required);

// Where and when an estimate was made. `store` and `lane` are required for a
// record; `transaction` and `cashier` are optional (empty = not sent).
struct CheckoutContext {
  std::string store;
  std::string lane;
  std::string transaction;
  std::string cashier;
  std::optional<int64_t> time_ms;  // the till's clock; the server's when absent

  bool empty() const { return store.empty() && lane.empty() && transaction.empty() && cashier.empty(); }
  // InvalidInput naming the field: store and lane present, every id valid.
  void validate(const std::string& where) const;
};

// One estimate at a till. decision is "id_check", "no_check" or "no_face"
// (no face found: the till is told to ask for ID).
struct CheckoutEvent {
  std::string event_id;  // random, 32 hex digits
  int64_t time_ms = 0;
  CheckoutContext context;
  std::string model;      // "<model file>@<created>": which estimator decided
  std::string policy;     // the policy in force, as compact JSON
  int faces = 0;
  std::string decision;
  std::string reason;
  std::optional<double> estimate, low, high, p_under_legal;  // absent when no face
  double decode_ms = 0, detect_ms = 0, estimate_ms = 0, total_ms = 0;
  // The terminal that sent the photo: its TLS client certificate's subject
  // (serve --tls-client-ca), "" without mutual TLS. Names a till, never a shopper.
  std::string terminal;

  bool asked_for_id() const { return decision != "no_check"; }
};

// What the cashier recorded about ID for the sale.
enum class IdCheck { kAdult, kRefused, kNotChecked };
const char* to_string(IdCheck c);                               // "adult" / "refused" / "not_checked"
IdCheck parse_id_check(const std::string& text, const std::string& where);  // InvalidInput

struct SaleLine {
  std::string product;
  std::string category;
  double quantity = 1;
  double price = 0;  // the line's total
  bool restricted = false;
};

struct Sale {
  std::string transaction;
  std::string store;
  std::string lane;
  std::string cashier;
  int64_t time_ms = 0;
  IdCheck id_check = IdCheck::kNotChecked;
  std::vector<SaleLine> lines;

  bool restricted() const;
  double total() const;
  void validate(const std::string& where) const;  // InvalidInput naming the field
};

// One sale object:
//   {"transaction": "T1", "store": "S1", "lane": "3", "cashier": "C7",
//    "time": "2026-11-21T14:03:07Z", "id_check": "not_checked",
//    "lines": [{"product": "p1", "category": "BEERS/ALES", "quantity": 1, "price": 7.99, "restricted": true}]}
// Unknown keys are errors (a typo must not silently drop a field).
// InvalidInput "<where>: field 'lines[2].price': ...".
Sale parse_sale(const nlohmann::json& j, const std::string& where);
nlohmann::json to_json(const Sale& sale);

struct SaleProblem {
  std::string where;    // "day.csv line 14" / "day.jsonl line 3"
  std::string message;  // names the field
};

// A sales file: JSON Lines (.jsonl/.ndjson: one sale object per line) or CSV
// (.csv: one row per line, columns transaction,store,lane,cashier,time,
// id_check,product,category,quantity,price,restricted; rows of one sale share
// the first six cells and are consecutive). Every bad row or sale is added to
// `problems` (never thrown), so a caller can refuse the whole file or load the
// good part; a sale with a bad row is left out whole. IoError when unreadable;
// InvalidInput for a CSV without the required columns.
std::vector<Sale> read_sales_file(const std::filesystem::path& path, std::vector<SaleProblem>* problems);

}  // namespace agegate
