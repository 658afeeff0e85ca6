// Retail purchase data for the age-group insights: products, households with
// their age band, and purchase lines, read from the Complete Journey layout
// (households.csv, products.csv, transactions.csv; see ../shared/data/README.md)
// and kept in the checkout database (Store::replace_retail() in store.h).
//
//   std::vector<RetailProblem> problems;
//   RetailData d = read_retail_dir("../shared/data/retail", RetailReadOptions{}, &problems);
//   for (auto& p : problems) std::cerr << p.message << "\n";  // "transactions.csv line 7: field 'quantity': ..."
//
// What counts as a problem (each names the file, line and field; never thrown):
//   bad row          a wrong field count, an empty or non-opaque id, a number
//                    that is not one (or negative), a week outside 1-53, a time
//                    without a zone, an age band that is not one, a duplicate id.
//                    The row is left out.
//   unknown product  a purchase line whose product is not in products.csv. The
//                    line is kept (it is still spend in a basket) without a
//                    department or category. The real sample has 316 of them.
//   rewritten id     an id written as a whole number in scientific notation
//                    (R wrote product 900000 as "9e+05"): read as that number.
//                    The real sample has two.
// A household id missing from households.csv is not a problem: most shoppers
// have no demographics, and their lines are kept without a band.
// IoError when a file is missing or unreadable; InvalidInput when a file lacks
// a required column. Plain values; thread-safe to copy and read.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace agegate {

// The sample's age-restricted categories (beer, wine, spirits).
const std::vector<std::string>& default_restricted_categories();

struct RetailHousehold {
  std::string id;
  std::string band;  // the household's age band as written ("25-34", "65+"); "" = unknown
};

struct RetailProduct {
  std::string id;
  std::string department;
  std::string category;  // "" when the file gives none
  std::string type;      // the product's description ("ICE - CRUSHED/CUBED")
  std::string brand;
  bool restricted = false;  // category is age-restricted
};

struct RetailLine {
  int64_t source_line = 0;  // line in transactions.csv: the row's key
  std::string basket;
  std::string household;
  std::string store;
  std::string product;
  double quantity = 0;
  double value = 0;  // what the shopper paid for the line
  int week = 0;      // 1-53
  int64_t time_ms = 0;
};

struct RetailData {
  std::vector<RetailHousehold> households;
  std::vector<RetailProduct> products;
  std::vector<RetailLine> lines;
};

struct RetailProblem {
  enum class Kind { kBadRow, kUnknownProduct, kRewrittenId };
  Kind kind = Kind::kBadRow;
  std::string message;  // "transactions.csv line 7: field 'quantity': '-1' is negative"
};

struct RetailReadOptions {
  std::vector<std::string> restricted_categories = default_restricted_categories();
};

// Everything in memory (tests, small folders).
RetailData read_retail_dir(const std::filesystem::path& dir, const RetailReadOptions& options,
                           std::vector<RetailProblem>* problems);

// The same files with the purchase lines in batches: households and products
// are read when it is made, transactions.csv as lines are asked for (memory
// for a batch, whatever the file's size). Problems go to *problems as rows
// are read.
//
//   RetailReader reader(dir, {}, &problems);
//   std::vector<RetailLine> batch;
//   while (reader.next_lines(&batch, 65536)) ...
class RetailReader {
 public:
  RetailReader(const std::filesystem::path& dir, const RetailReadOptions& options,
               std::vector<RetailProblem>* problems);
  ~RetailReader();
  const std::vector<RetailHousehold>& households() const;
  const std::vector<RetailProduct>& products() const;
  bool known_product(const std::string& id) const;
  // Up to `max` next good lines into *batch (cleared first); false when none is left.
  bool next_lines(std::vector<RetailLine>* batch, size_t max);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace agegate
