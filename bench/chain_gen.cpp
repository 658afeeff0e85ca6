// A synthetic chain's year of baskets from the real retail sample, for the
// chain-scale benchmark (bench/chain-scale.sh): STORES stores, each a year
// of the sample's baskets resampled with replacement (so the mix of age
// bands, basket sizes, categories and weeks is the sample's), each store
// with its own copies of the households. Writes the Complete Journey layout
// that `agegate import-retail` reads.
//
//   agegate_chain_gen SAMPLE_DIR OUT_DIR LINES [SEED] [--checkout]
//   agegate_chain_gen --columns events|sales|lines   (the columns of those files)
//
// LINES is the target number of purchase lines; the stores are as many as
// it takes (the last one partial). Prints the lines, baskets, stores and
// households written. With --checkout it also writes the chain's checkout
// records for the audit, one sale per basket with its lines and one camera
// event per sale, as CSV files whose columns are the tables' (for COPY /
// .import): checkout_events.csv, sales.csv, sale_lines.csv. Eight lanes
// and ten cashiers per store; lanes 7 and 8 send no transaction id (their
// events are matched by lane and time, 20 s before the sale); the camera
// asks for ID on 90% of 19-24s' baskets and 25% of the others; cashiers
// record a check on 90% of asked sales (c9 of every store on 50%), refusals
// 5%.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "agegate/core/csv.h"
#include "agegate/core/time.h"
#include "agegate/store/retail.h"

namespace fs = std::filesystem;
using namespace agegate;

namespace {

// The checkout records of the chain, written as the baskets are drawn.
class Checkout {
 public:
  Checkout(const fs::path& out, const RetailData& d) : rng_(7) {
    for (const auto& h : d.households) young_[h.id] = h.band == "19-24";
    for (const auto& p : d.products) restricted_[p.id] = p.restricted;
    events_.open(out / "checkout_events.csv");
    sales_.open(out / "sales.csv");
    lines_.open(out / "sale_lines.csv");
  }
  void basket(int64_t store, int64_t id, const std::vector<const RetailLine*>& lines) {
    std::uniform_real_distribution<double> u(0, 1);
    const int lane = 1 + static_cast<int>(u(rng_) * 8), cashier = static_cast<int>(u(rng_) * 10);
    const int64_t t = lines.front()->time_ms;
    auto young = young_.find(lines.front()->household);
    const bool asked = u(rng_) < (young != young_.end() && young->second ? 0.9 : 0.25);
    int restricted = 0;
    double total = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      const RetailLine& l = *lines[i];
      const bool r = restricted_.count(l.product) && restricted_[l.product];
      restricted += r;
      total += l.value;
      lines_ << 'S' << store << ',' << id << ',' << i << ',' << t << ',' << l.product << ",," << l.quantity << ','
             << l.value << ',' << (r ? 1 : 0) << '\n';
    }
    const double careful = cashier == 9 ? 0.5 : 0.9;
    const char* check = !asked || u(rng_) >= careful ? "not_checked" : (u(rng_) < 0.05 ? "refused" : "adult");
    if (!restricted) check = "not_checked";
    sales_ << 'S' << store << ',' << id << ',' << lane << ",c" << cashier << ',' << t << ',' << check << ','
           << restricted << ',' << total << '\n';
    const bool with_txn = lane < 7;
    char event_id[40];
    std::snprintf(event_id, sizeof event_id, "%032llx", static_cast<unsigned long long>(++events_written_));
    events_ << event_id << ',' << (t - 20000) << ",S" << store << ',' << lane << ',' << (with_txn ? std::to_string(id) : "")
            << ",c" << cashier << ",agegate.agm@bench,{},1," << (asked ? "id_check" : "no_check") << ",bench,"
            << (asked ? 22.5 : 41.0) << ',' << (asked ? 16.0 : 33.0) << ',' << (asked ? 29.0 : 50.0) << ','
            << (asked ? 0.2 : 0.001) << ",1,2,10,13,\n";
  }
  static const char* event_columns() {
    return "event_id,time_ms,store_id,lane_id,transaction_id,cashier_id,model,policy,faces,decision,reason,estimate,"
           "age_low,age_high,p_under_legal,decode_ms,detect_ms,estimate_ms,total_ms,terminal";
  }
  static const char* sale_columns() {
    return "store_id,transaction_id,lane_id,cashier_id,time_ms,id_check,restricted_items,total";
  }
  static const char* line_columns() {
    return "store_id,transaction_id,line_no,sale_time_ms,product_id,category,quantity,price,restricted";
  }

 private:
  std::mt19937_64 rng_;
  std::unordered_map<std::string, bool> young_, restricted_;
  std::ofstream events_, sales_, lines_;
  uint64_t events_written_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--columns") {  // a CSV file's columns, for COPY
    const std::string which = argv[2];
    std::printf("%s\n", which == "events" ? Checkout::event_columns()
                        : which == "sales" ? Checkout::sale_columns()
                                           : Checkout::line_columns());
    return 0;
  }
  if (argc < 4) {
    std::fprintf(stderr, "usage: agegate_chain_gen SAMPLE_DIR OUT_DIR LINES [SEED]\n");
    return 2;
  }
  const fs::path sample = argv[1], out = argv[2];
  const int64_t target = std::atoll(argv[3]);
  std::mt19937_64 rng(argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 42);
  const bool checkout = argc > 5 && std::string(argv[5]) == "--checkout";
  std::vector<RetailProblem> problems;
  RetailData d = read_retail_dir(sample, RetailReadOptions{}, &problems);
  // The sample's lines grouped by basket.
  std::unordered_map<std::string, size_t> basket_of;
  std::vector<std::vector<size_t>> members;
  for (size_t i = 0; i < d.lines.size(); ++i) {
    auto [it, added] = basket_of.emplace(d.lines[i].basket, members.size());
    if (added) members.emplace_back();
    members[it->second].push_back(i);
  }
  fs::create_directories(out);
  {
    CsvWriter p({"product_id", "department", "brand", "product_category", "product_type"},
                CsvWriter::Separators::kQuote, "products.csv");
    for (const auto& x : d.products) p.row({x.id, x.department, x.brand, x.category, x.type});
    p.write(out / "products.csv");
  }
  const int64_t per_store = static_cast<int64_t>(d.lines.size());
  const int64_t stores = (target + per_store - 1) / per_store;
  {
    std::ofstream h(out / "households.csv");
    h << "household_id,age\n";
    for (int64_t s = 0; s < stores; ++s) {
      for (const auto& x : d.households) h << 'S' << s << '-' << x.id << ',' << x.band << '\n';
    }
  }
  std::ofstream t(out / "transactions.csv");
  std::vector<char> buffer(1 << 22);
  t.rdbuf()->pubsetbuf(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  t << "household_id,store_id,basket_id,product_id,quantity,sales_value,week,transaction_timestamp\n";
  std::uniform_int_distribution<size_t> pick(0, members.size() - 1);
  std::optional<Checkout> records;
  if (checkout) records.emplace(out, d);
  std::vector<const RetailLine*> basket_lines;
  int64_t lines = 0, baskets = 0;
  char number[32];
  for (int64_t s = 0; s < stores && lines < target; ++s) {
    int64_t store_lines = 0;
    while (store_lines < per_store && lines < target) {
      const auto& m = members[pick(rng)];
      ++baskets;
      basket_lines.clear();
      for (size_t i : m) basket_lines.push_back(&d.lines[i]);
      if (records) records->basket(s, baskets, basket_lines);
      for (size_t i : m) {
        const RetailLine& l = d.lines[i];
        t << 'S' << s << '-' << l.household << ",S" << s << ',' << baskets << ',' << l.product << ',';
        std::snprintf(number, sizeof number, "%.17g", l.quantity);
        t << number << ',';
        std::snprintf(number, sizeof number, "%.17g", l.value);
        t << number << ',' << l.week << ',' << format_iso8601(l.time_ms) << '\n';
      }
      store_lines += static_cast<int64_t>(m.size());
      lines += static_cast<int64_t>(m.size());
    }
  }
  t.flush();
  if (!t) {
    std::fprintf(stderr, "agegate_chain_gen: cannot write %s\n", (out / "transactions.csv").string().c_str());
    return 1;
  }
  std::printf("lines %lld baskets %lld stores %lld households %lld\n", static_cast<long long>(lines),
              static_cast<long long>(baskets), static_cast<long long>(stores),
              static_cast<long long>(stores * static_cast<int64_t>(d.households.size())));
  return 0;
}
