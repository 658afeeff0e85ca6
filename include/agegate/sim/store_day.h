// A store day you can watch: replays a realistic day of checkouts through a
// running `agegate serve --db ...`. Customers are real face photos from the
// study's folder (their true ages known), baskets are real grocery baskets
// (84.51 Complete Journey sample; alcohol categories are the restricted
// lines), and simulated cashiers check ID at set rates, one of them
// carelessly. The audit (analytics/audit.h) must then flag the careless one.
//
//   StoreDayOptions o;  o.url = "http://127.0.0.1:8080";  o.customers = 300;
//   StoreDaySummary s = replay_store_day(o);   // sends photos and sales; progress on stderr
//
// Each lane serves one customer at a time from opening to closing. A customer
// of a restricted basket is photographed when the first alcohol line is
// scanned (every customer when photograph_all); a shopper whose household age
// band is known gets a photo of that band; `minor_share` of the alcohol
// buyers are 13-17 year-olds trying their luck. Cashiers ask for ID with
// probability `check_when_asked` when the camera asks and `check_when_passed`
// otherwise; a checked minor is refused. Lanes listed in
// `lanes_without_transaction` send no transaction id with the photo (the
// audit then matches by lane and time). Deterministic for a seed, up to the
// service's answers. Throws IoError when the service or the data cannot be
// reached, InvalidInput for bad options.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace agegate {

struct CashierPlan {
  std::string id;
  double check_when_asked = 0.95;
  double check_when_passed = 0.02;
};

struct StoreDayOptions {
  std::string url = "http://127.0.0.1:8080";
  std::string token;  // bearer token, when the service wants one
  std::filesystem::path faces_dir;   // default: <shared>/data/faces
  std::filesystem::path retail_dir;  // default: <shared>/data/retail
  std::string store = "S1";
  std::string date;                  // YYYY-MM-DD (UTC); default: today
  int open_hour = 8, close_hour = 22;
  int customers = 300;
  double restricted_share = 0.35;    // customers whose basket holds alcohol
  double minor_share = 0.08;         // of those: 13-17 year-olds
  bool photograph_all = true;        // photos for every basket (the insights need them), not only alcohol
  // One cashier per lane, lane i = cashier i. Default: five careful cashiers
  // (95% checks when asked) and one careless (30%).
  std::vector<CashierPlan> cashiers;
  std::vector<int> lanes_without_transaction = {2};  // 1-based lane numbers
  int concurrency = 2;               // requests in flight
  uint64_t seed = 1;
};

struct StoreDaySummary {
  nlohmann::json json;  // per cashier: customers, restricted, asked, unchecked, minors served unchecked ...
};

// The default cashiers: c1..c5 careful, c6 careless.
std::vector<CashierPlan> default_cashiers();
// "id:rate,id:rate" (rate = check_when_asked). InvalidInput naming the item.
std::vector<CashierPlan> parse_cashiers(const std::string& text);

StoreDaySummary replay_store_day(const StoreDayOptions& options);

}  // namespace agegate
