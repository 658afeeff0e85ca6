// What the purchase insights count, as aggregates: baskets, lines and spend
// by the household's age band, baskets holding each category or department,
// each product's baskets, and how many held-out baskets a list of categories
// hits. Computed by the database with GROUP BY queries (Store::retail_counts()
// in store.h: memory independent of the number of lines) or from retail data
// in memory (retail_counts_of(): tests, small files).
//
//   auto counts = store->retail_counts();           // or retail_counts_of(data)
//   const int last = counts->last_week();
//   for (const RetailBandRow& r : counts->bands(last - 7)) ...  // r.held: week >= last - 7
//
// Definitions, the same for both:
//   basket       the lines of one basket id; its household is its first
//                line's (in file order; the real data never gives a basket
//                two), its week the latest of its lines' weeks
//   band         the household's age band as the data writes it ("25-34"),
//                "" for a household without one or missing from the data
//   held         the basket's week >= held_from_week (false for every basket
//                when held_from_week is past the last week); list_hits takes
//                a range of weeks instead
//   holding c    at least one of the basket's lines is a product of
//                category (department) c; products without one count for none
// Rows come in no particular order; rows with no basket are absent. Memory
// for the rows grows with bands x categories (or products), never with lines.
// A database failure throws IoError naming the database.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agegate/store/retail.h"

namespace agegate {

// The baskets of one (band, held) group and what their lines add up to.
struct RetailBandRow {
  std::string band;
  bool held = false;
  int64_t baskets = 0;
  int64_t categorised = 0;   // baskets holding at least one category
  int64_t lines = 0;
  int64_t restricted_lines = 0;
  int64_t unknown_lines = 0;  // lines whose product is not in the products
  double spend = 0;
  double restricted_spend = 0;
  // Sums over the baskets of spend^2, restricted_spend^2 and their product:
  // the second moments a ratio's interval and a redraw of baskets need.
  double spend_sq = 0, restricted_sq = 0, spend_restricted = 0;
};

// Baskets of one (band, held) group holding a category or department; bands
// "" left out.
struct RetailItemRow {
  std::string band;
  bool held = false;
  std::string name;
  int64_t baskets = 0;
};

struct RetailCategory {
  std::string name;
  std::string department;  // its first product's (smallest id, byte order)
  bool restricted = false;  // any of its products is
};

// A product's baskets in one band (over every week); band "" left out.
struct RetailProductRow {
  std::string band;
  std::string id, category, type, brand;
  int64_t baskets = 0;
};

// Baskets of one band (of the weeks asked for) holding at least one category
// of list `list`.
struct RetailListHits {
  std::string band;
  int list = 0;
  int64_t baskets = 0;
};

class RetailCounts {
 public:
  virtual ~RetailCounts() = default;
  // The latest basket week; 0 without lines.
  virtual int last_week() const = 0;
  // Households per band (band "" included).
  virtual std::vector<std::pair<std::string, int64_t>> households() const = 0;
  // Every category named by a product.
  virtual std::vector<RetailCategory> categories() const = 0;
  virtual std::vector<RetailBandRow> bands(int held_from_week) const = 0;
  virtual std::vector<RetailItemRow> category_baskets(int held_from_week) const = 0;
  virtual std::vector<RetailItemRow> department_baskets(int held_from_week) const = 0;
  // The products of these categories with their baskets per band.
  virtual std::vector<RetailProductRow> product_baskets(const std::vector<std::string>& categories) const = 0;
  // lists[i] is list i; only baskets of weeks from_week .. to_week count.
  virtual std::vector<RetailListHits> list_hits(int from_week, int to_week,
                                                const std::vector<std::vector<std::string>>& lists) const = 0;
};

// The same counts from data in memory (the data must outlive the result).
std::unique_ptr<RetailCounts> retail_counts_of(const RetailData& data);

}  // namespace agegate
