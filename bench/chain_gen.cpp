// A synthetic chain's year of baskets from the real retail sample, for the
// chain-scale benchmark (bench/chain-scale.sh): STORES stores, each a year
// of the sample's baskets resampled with replacement (so the mix of age
// bands, basket sizes, categories and weeks is the sample's), each store
// with its own copies of the households. Writes the Complete Journey layout
// that `agegate import-retail` reads.
//
//   agegate_chain_gen SAMPLE_DIR OUT_DIR LINES [SEED]
//
// LINES is the target number of purchase lines; the stores are as many as
// it takes (the last one partial). Prints the lines, baskets, stores and
// households written.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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

std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

struct Basket {
  size_t first = 0, count = 0;  // lines[first .. first + count) of the sample, in basket order
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: agegate_chain_gen SAMPLE_DIR OUT_DIR LINES [SEED]\n");
    return 2;
  }
  const fs::path sample = argv[1], out = argv[2];
  const int64_t target = std::atoll(argv[3]);
  std::mt19937_64 rng(argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 42);
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
    std::ofstream p(out / "products.csv");
    p << "product_id,department,brand,product_category,product_type\n";
    for (const auto& x : d.products) {
      p << csv_field(x.id) << ',' << csv_field(x.department) << ',' << csv_field(x.brand) << ','
        << csv_field(x.category) << ',' << csv_field(x.type) << '\n';
    }
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
  int64_t lines = 0, baskets = 0;
  char number[32];
  for (int64_t s = 0; s < stores && lines < target; ++s) {
    int64_t store_lines = 0;
    while (store_lines < per_store && lines < target) {
      const auto& m = members[pick(rng)];
      ++baskets;
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
