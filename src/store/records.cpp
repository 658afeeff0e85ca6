// Checkout events and sales: validation, JSON and the sales file reader; see store/records.h.
#include "agegate/store/records.h"

#include <cmath>
#include <set>
#include <sstream>

#include "agegate/core/csv.h"
#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/text.h"
#include "agegate/core/time.h"

namespace agegate {
namespace {
using json = nlohmann::json;

constexpr double kMaxQuantity = 1e6;
constexpr double kMaxPrice = 1e7;
constexpr size_t kMaxLines = 1000;

}  // namespace

// Ids are opaque: printable ASCII without separators, so they cannot smuggle
// free text (a name, a note) into the record.
void validate_id(const std::string& value, const std::string& where, const std::string& field, bool required) {
  if (value.empty()) {
    if (required) throw InvalidInput(where + ": field '" + field + "' is required");
    return;
  }
  if (value.size() > kMaxIdLength) {
    throw InvalidInput(where + ": field '" + field + "' is longer than " + std::to_string(kMaxIdLength) +
                       " characters");
  }
  for (unsigned char c : value) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
                    c == '_' || c == '.' || c == ':' || c == '/';
    if (!ok) {
      throw InvalidInput(where + ": field '" + field + "' must be an opaque id (letters, digits, - _ . : /), got '" +
                         value.substr(0, 64) + "'");
    }
  }
}

namespace {

std::string field_string(const json& j, const char* key, const std::string& where, const std::string& prefix = "") {
  if (!j.contains(key)) return "";
  const json& v = j.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  throw InvalidInput(where + ": field '" + prefix + key + "' must be a string");
}

double field_number(const json& j, const char* key, const std::string& where, const std::string& prefix,
                    double fallback, bool required) {
  if (!j.contains(key)) {
    if (required) throw InvalidInput(where + ": field '" + prefix + key + "' is required");
    return fallback;
  }
  const json& v = j.at(key);
  if (!v.is_number()) throw InvalidInput(where + ": field '" + prefix + key + "' must be a number");
  return v.get<double>();
}

void check_keys(const json& j, const std::set<std::string>& allowed, const std::string& where,
                const std::string& prefix) {
  if (!j.is_object()) throw InvalidInput(where + ": " + (prefix.empty() ? "a sale" : prefix) + " must be a JSON object");
  for (const auto& [k, v] : j.items()) {
    if (!allowed.count(k)) throw InvalidInput(where + ": unknown field '" + prefix + k + "'");
  }
}

bool parse_bool_cell(const std::string& text, const std::string& where) {
  const std::string t = to_lower(trim(text));
  if (t == "1" || t == "true" || t == "yes") return true;
  if (t == "0" || t == "false" || t == "no" || t.empty()) return false;
  throw InvalidInput(where + ": field 'restricted' must be true/false/1/0, got '" + text + "'");
}

}  // namespace

void CheckoutContext::validate(const std::string& where) const {
  validate_id(store, where, "store", true);
  validate_id(lane, where, "lane", true);
  validate_id(transaction, where, "transaction", false);
  validate_id(cashier, where, "cashier", false);
}

const char* to_string(IdCheck c) {
  switch (c) {
    case IdCheck::kAdult: return "adult";
    case IdCheck::kRefused: return "refused";
    case IdCheck::kNotChecked: return "not_checked";
  }
  return "not_checked";
}

IdCheck parse_id_check(const std::string& text, const std::string& where) {
  if (text == "adult") return IdCheck::kAdult;
  if (text == "refused") return IdCheck::kRefused;
  if (text == "not_checked") return IdCheck::kNotChecked;
  throw InvalidInput(where + ": field 'id_check' must be adult, refused or not_checked, got '" + text.substr(0, 64) +
                     "'");
}

bool Sale::restricted() const {
  for (const auto& l : lines) {
    if (l.restricted) return true;
  }
  return false;
}

double Sale::total() const {
  double t = 0;
  for (const auto& l : lines) t += l.price;
  return t;
}

void Sale::validate(const std::string& where) const {
  validate_id(transaction, where, "transaction", true);
  validate_id(store, where, "store", true);
  validate_id(lane, where, "lane", true);
  validate_id(cashier, where, "cashier", true);
  if (lines.empty()) throw InvalidInput(where + ": field 'lines' must hold at least one line");
  if (lines.size() > kMaxLines) throw InvalidInput(where + ": field 'lines' holds more than 1000 lines");
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string prefix = "lines[" + std::to_string(i) + "].";
    const SaleLine& l = lines[i];
    validate_id(l.product, where, prefix + "product", true);
    if (l.category.size() > 2 * kMaxIdLength) throw InvalidInput(where + ": field '" + prefix + "category' is too long");
    if (!std::isfinite(l.quantity) || l.quantity <= 0 || l.quantity > kMaxQuantity) {
      throw InvalidInput(where + ": field '" + prefix + "quantity' must be > 0");
    }
    if (!std::isfinite(l.price) || l.price < 0 || l.price > kMaxPrice) {
      throw InvalidInput(where + ": field '" + prefix + "price' must be >= 0");
    }
  }
}

Sale parse_sale(const json& j, const std::string& where) {
  check_keys(j, {"transaction", "store", "lane", "cashier", "time", "id_check", "lines"}, where, "");
  Sale s;
  s.transaction = field_string(j, "transaction", where);
  s.store = field_string(j, "store", where);
  s.lane = field_string(j, "lane", where);
  s.cashier = field_string(j, "cashier", where);
  const std::string time = field_string(j, "time", where);
  if (time.empty()) throw InvalidInput(where + ": field 'time' is required");
  s.time_ms = parse_iso8601(time, where + ": field 'time'");
  const std::string check = field_string(j, "id_check", where);
  if (check.empty()) throw InvalidInput(where + ": field 'id_check' is required");
  s.id_check = parse_id_check(check, where);
  if (!j.contains("lines") || !j.at("lines").is_array()) {
    throw InvalidInput(where + ": field 'lines' must be an array of lines");
  }
  const json& lines = j.at("lines");
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string prefix = "lines[" + std::to_string(i) + "].";
    const json& lj = lines[i];
    check_keys(lj, {"product", "category", "quantity", "price", "restricted"}, where, prefix);
    SaleLine l;
    l.product = field_string(lj, "product", where, prefix);
    l.category = field_string(lj, "category", where, prefix);
    l.quantity = field_number(lj, "quantity", where, prefix, 1.0, false);
    l.price = field_number(lj, "price", where, prefix, 0.0, true);
    if (lj.contains("restricted")) {
      if (!lj.at("restricted").is_boolean()) throw InvalidInput(where + ": field '" + prefix + "restricted' must be true or false");
      l.restricted = lj.at("restricted").get<bool>();
    }
    s.lines.push_back(std::move(l));
  }
  s.validate(where);
  return s;
}

json to_json(const Sale& s) {
  json lines = json::array();
  for (const auto& l : s.lines) {
    lines.push_back({{"product", l.product}, {"category", l.category}, {"quantity", l.quantity},
                     {"price", l.price}, {"restricted", l.restricted}});
  }
  return {{"transaction", s.transaction}, {"store", s.store},     {"lane", s.lane},
          {"cashier", s.cashier},         {"time", format_iso8601(s.time_ms)},
          {"id_check", to_string(s.id_check)}, {"lines", lines}};
}

namespace {

std::vector<Sale> read_jsonl(const std::filesystem::path& path, std::vector<SaleProblem>* problems) {
  std::istringstream in(read_file(path));
  std::vector<Sale> sales;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (trim(line).empty()) continue;
    const std::string where = path.filename().string() + " line " + std::to_string(n);
    try {
      json j;
      try {
        j = json::parse(line);
      } catch (const json::exception& e) {  // parse_error, and out_of_range for 1e999
        throw InvalidInput(where + ": not valid JSON (" + std::string(e.what()) + ")");
      }
      sales.push_back(parse_sale(j, where));
    } catch (const InvalidInput& e) {
      problems->push_back({where, e.what()});
    }
  }
  return sales;
}

std::vector<Sale> read_csv(const std::filesystem::path& path, std::vector<SaleProblem>* problems) {
  static const std::vector<std::string> kHead = {"transaction", "store", "lane", "cashier", "time", "id_check"};
  std::vector<std::string> required = kHead;
  for (const char* c : {"product", "category", "quantity", "price", "restricted"}) required.push_back(c);
  CsvOptions copt;
  copt.exact_field_count = false;
  CsvReader csv = CsvReader::open(path, required, copt);
  std::vector<Sale> sales;
  // The sale being read, with its rows' shared cells; `broken` drops it whole.
  std::vector<std::string> key;
  bool open = false, broken = false;
  std::string first_where;
  std::set<std::pair<std::string, std::string>> seen;  // (store, transaction) already closed
  auto close = [&] {
    if (open && !broken) {
      try {
        sales.back().validate(first_where);
      } catch (const InvalidInput& e) {
        problems->push_back({first_where, e.what()});
        sales.pop_back();
      }
    } else if (open && broken) {
      sales.pop_back();
    }
    open = false;
    broken = false;
  };
  while (auto row = csv.next()) {
    const std::string where = row->where();
    try {
      if (row->size() != csv.header().size()) {
        throw InvalidInput(where + ": " + std::to_string(row->size()) + " fields, the header has " +
                           std::to_string(csv.header().size()));
      }
      std::vector<std::string> k;
      for (const auto& c : kHead) k.push_back(row->text(c));
      if (!open || k != key) {
        // A new sale starts here; if its first row is bad, its later rows
        // (same key) are dropped with it rather than reported again.
        close();
        sales.emplace_back();
        open = true;
        key = k;
        first_where = where;
        if (!seen.insert({k[1], k[0]}).second) {
          throw InvalidInput(where + ": field 'transaction': rows of sale '" + k[0] +
                             "' must be consecutive and agree on transaction, store, lane, cashier, time and id_check");
        }
        Sale& s = sales.back();
        s.transaction = k[0];
        s.store = k[1];
        s.lane = k[2];
        s.cashier = k[3];
        s.time_ms = parse_iso8601(k[4], where + ": field 'time'");
        s.id_check = parse_id_check(k[5], where);
      }
      if (broken) continue;
      SaleLine l;
      l.product = row->text("product");
      l.category = row->text("category");
      l.quantity = row->text("quantity").empty() ? 1.0 : row->number("quantity");
      l.price = row->number("price");
      l.restricted = parse_bool_cell(row->text("restricted"), where);
      sales.back().lines.push_back(std::move(l));
    } catch (const InvalidInput& e) {
      problems->push_back({where, e.what()});
      broken = open;
    }
  }
  close();
  return sales;
}

}  // namespace

std::vector<Sale> read_sales_file(const std::filesystem::path& path, std::vector<SaleProblem>* problems) {
  const std::string ext = to_lower(path.extension().string());
  if (ext == ".jsonl" || ext == ".ndjson") return read_jsonl(path, problems);
  if (ext == ".csv") return read_csv(path, problems);
  throw InvalidInput(path.string() + ": a sales file must be .csv, .jsonl or .ndjson");
}

}  // namespace agegate
