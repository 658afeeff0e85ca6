// Reading the retail files; see store/retail.h.
#include "agegate/store/retail.h"

#include <limits>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "agegate/core/age_band.h"
#include "agegate/core/csv.h"
#include "agegate/core/error.h"
#include "agegate/core/time.h"
#include "agegate/store/records.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;

constexpr int kMaxWeek = 53;

const fs::path kHouseholds = "households.csv", kProducts = "products.csv", kTransactions = "transactions.csv";

CsvReader open_table(const fs::path& dir, const fs::path& file, const std::vector<std::string>& columns) {
  CsvOptions o;
  o.exact_field_count = false;  // a short or long row is reported, not fatal
  return CsvReader::open(dir / file, columns, o);
}

// Runs `read` on a row; a bad field becomes a problem naming the row.
template <class F>
bool row_ok(const CsvRow& row, const CsvReader& csv, std::vector<RetailProblem>* problems, F&& read) {
  if (row.size() != csv.header().size()) {
    problems->push_back({RetailProblem::Kind::kBadRow, row.where() + ": " + std::to_string(row.size()) +
                                                           " fields where the header has " +
                                                           std::to_string(csv.header().size())});
    return false;
  }
  try {
    read();
    return true;
  } catch (const InvalidInput& e) {
    problems->push_back({RetailProblem::Kind::kBadRow, e.what()});
    return false;
  }
}

// R and spreadsheets write some whole-number ids in scientific notation
// (900000 as "9e+05"). Such an id is read as the whole number it stands for
// when it is exactly one; nullopt when `text` is not of that form.
std::optional<std::string> whole_number_from_scientific(const std::string& text) {
  const size_t e = text.find_first_of("eE");
  if (e == std::string::npos || e == 0) return std::nullopt;
  std::string mantissa = text.substr(0, e), exponent = text.substr(e + 1);
  if (!exponent.empty() && exponent[0] == '+') exponent.erase(0, 1);
  if (exponent.empty() || exponent.size() > 2 ||
      exponent.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const size_t point = mantissa.find('.');
  std::string digits = mantissa;
  size_t fraction = 0;
  if (point != std::string::npos) {
    digits = mantissa.substr(0, point) + mantissa.substr(point + 1);
    fraction = mantissa.size() - point - 1;
  }
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  const size_t shift = static_cast<size_t>(std::stoi(exponent));
  if (shift < fraction) return std::nullopt;  // not a whole number
  digits += std::string(shift - fraction, '0');
  const size_t lead = digits.find_first_not_of('0');
  return lead == std::string::npos ? std::string("0") : digits.substr(lead);
}

// An id cell: an exact whole number in scientific notation is rewritten (and
// reported), anything else must be an opaque id.
std::string id_cell(const CsvRow& row, const std::string& column, std::vector<RetailProblem>* problems) {
  std::string v = row.text(column);
  if (auto whole = whole_number_from_scientific(v)) {
    problems->push_back({RetailProblem::Kind::kRewrittenId, row.where() + ": field '" + column + "': '" + v +
                                                                "' read as the whole number " + *whole});
    v = *whole;
  }
  validate_id(v, row.where(), column, true);
  return v;
}

double non_negative(const CsvRow& row, const std::string& column) {
  const double v = row.number(column);
  if (v < 0) throw InvalidInput(row.where() + ": field '" + column + "': " + row.text(column) + " is negative");
  return v;
}

}  // namespace

const std::vector<std::string>& default_restricted_categories() {
  static const std::vector<std::string> c = {"BEERS/ALES", "DOMESTIC WINE", "IMPORTED WINE", "MISC WINE", "LIQUOR"};
  return c;
}

struct RetailReader::Impl {
  RetailData head;  // households and products
  std::unordered_map<std::string, size_t> product_index;
  std::vector<RetailProblem>* problems = nullptr;
  std::optional<CsvReader> tx;

  void read_households(const fs::path& dir) {
    std::unordered_set<std::string> ids;
    CsvReader hh = open_table(dir, kHouseholds, {"household_id", "age"});
    while (auto row = hh.next()) {
      RetailHousehold h;
      row_ok(*row, hh, problems, [&] {
        h.id = id_cell(*row, "household_id", problems);
        h.band = row->text("age");
        if (!h.band.empty()) parse_age_band(h.band, row->where() + ": field 'age'");
        if (!ids.insert(h.id).second) {
          throw InvalidInput(row->where() + ": field 'household_id': " + h.id + " is listed twice");
        }
        head.households.push_back(h);
      });
    }
  }

  void read_products(const fs::path& dir, const RetailReadOptions& options) {
    const std::set<std::string> restricted(options.restricted_categories.begin(), options.restricted_categories.end());
    CsvReader pr = open_table(dir, kProducts, {"product_id", "department", "product_category", "product_type", "brand"});
    while (auto row = pr.next()) {
      row_ok(*row, pr, problems, [&] {
        RetailProduct p;
        p.id = id_cell(*row, "product_id", problems);
        p.department = row->text("department");
        p.category = row->text("product_category");
        p.type = row->text("product_type");
        p.brand = row->text("brand");
        p.restricted = restricted.count(p.category) > 0;
        if (!product_index.emplace(p.id, head.products.size()).second) {
          throw InvalidInput(row->where() + ": field 'product_id': " + p.id + " is listed twice");
        }
        head.products.push_back(std::move(p));
      });
    }
  }

  // The next good line, or nullopt at the end of the file.
  std::optional<RetailLine> next_line() {
    while (auto row = tx->next()) {
      RetailLine l;
      const bool ok = row_ok(*row, *tx, problems, [&] {
        l.source_line = row->line();
        l.household = id_cell(*row, "household_id", problems);
        l.store = id_cell(*row, "store_id", problems);
        l.basket = id_cell(*row, "basket_id", problems);
        l.product = id_cell(*row, "product_id", problems);
        l.quantity = non_negative(*row, "quantity");
        l.value = non_negative(*row, "sales_value");
        l.week = static_cast<int>(row->integer("week", 1, kMaxWeek));
        l.time_ms = parse_iso8601(row->text("transaction_timestamp"), row->where() + ": field 'transaction_timestamp'");
      });
      if (!ok) continue;
      if (!product_index.count(l.product)) {
        problems->push_back({RetailProblem::Kind::kUnknownProduct,
                             row->where() + ": field 'product_id': " + l.product + " is not in " + kProducts.string()});
      }
      return l;
    }
    return std::nullopt;
  }
};

RetailReader::RetailReader(const fs::path& dir, const RetailReadOptions& options, std::vector<RetailProblem>* problems)
    : impl_(std::make_unique<Impl>()) {
  AGEGATE_CHECK(problems != nullptr, "RetailReader needs a problem list");
  if (!fs::is_directory(dir)) throw IoError("retail data: " + dir.string() + " is not a folder");
  impl_->problems = problems;
  impl_->read_households(dir);
  impl_->read_products(dir, options);
  CsvOptions o;
  o.exact_field_count = false;
  o.max_bytes = std::numeric_limits<uint64_t>::max();  // a chain's year of lines, read in chunks
  impl_->tx.emplace(CsvReader::open(dir / kTransactions,
                                    {"household_id", "store_id", "basket_id", "product_id", "quantity", "sales_value",
                                     "week", "transaction_timestamp"},
                                    o));
}

RetailReader::~RetailReader() = default;
const std::vector<RetailHousehold>& RetailReader::households() const { return impl_->head.households; }
const std::vector<RetailProduct>& RetailReader::products() const { return impl_->head.products; }
bool RetailReader::known_product(const std::string& id) const { return impl_->product_index.count(id) > 0; }

bool RetailReader::next_lines(std::vector<RetailLine>* batch, size_t max) {
  batch->clear();
  while (batch->size() < max) {
    auto l = impl_->next_line();
    if (!l) break;
    batch->push_back(std::move(*l));
  }
  return !batch->empty();
}

RetailData read_retail_dir(const fs::path& dir, const RetailReadOptions& options, std::vector<RetailProblem>* problems) {
  AGEGATE_CHECK(problems != nullptr, "read_retail_dir needs a problem list");
  RetailReader reader(dir, options, problems);
  RetailData d;
  d.households = reader.households();
  d.products = reader.products();
  std::vector<RetailLine> batch;
  while (reader.next_lines(&batch, 65536)) d.lines.insert(d.lines.end(), batch.begin(), batch.end());
  return d;
}

}  // namespace agegate
