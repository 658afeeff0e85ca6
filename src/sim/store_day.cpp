// The store-day replay; see sim/store_day.h.
#include "agegate/sim/store_day.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include "agegate/core/csv.h"
#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/log.h"
#include "agegate/core/progress.h"
#include "agegate/core/run_info.h"
#include "agegate/core/text.h"
#include "agegate/core/time.h"
#include "agegate/data/labels.h"

namespace agegate {
namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

// The sample's age-restricted categories (see ../shared/data/README.md).
const std::set<std::string> kRestrictedCategories = {"BEERS/ALES", "DOMESTIC WINE", "IMPORTED WINE", "MISC WINE",
                                                     "LIQUOR"};
constexpr int kMinorLow = 13, kMinorHigh = 17, kAdultLow = 19, kAdultHigh = 80;
constexpr int kLegalAge = 18;

struct Basket {
  std::string band;  // household age band; "" = unknown
  std::vector<json> lines;
  bool restricted = false;
};

struct Customer {
  int lane = 0;  // 0-based
  const Basket* basket = nullptr;
  fs::path photo;
  int true_age = 0;
  bool photographed = false;
  int64_t photo_ms = 0, sale_ms = 0;
  double draw = 0;  // the cashier's coin
  std::string transaction;
  // Filled by the replay.
  std::string decision;
  bool checked = false;
};

std::pair<int, int> band_ages(const std::string& band) {
  if (band == "65+") return {65, kAdultHigh};
  const size_t dash = band.find('-');
  if (dash == std::string::npos) return {kAdultLow, kAdultHigh};
  const auto lo = parse_integer(band.substr(0, dash)), hi = parse_integer(band.substr(dash + 1));
  if (!lo || !hi) return {kAdultLow, kAdultHigh};
  return {static_cast<int>(*lo), static_cast<int>(*hi)};
}

std::vector<Basket> read_baskets(const fs::path& dir) {
  std::unordered_map<std::string, std::string> band_of;
  CsvReader hh = CsvReader::open(dir / "households.csv", {"household_id", "age"});
  while (auto r = hh.next()) band_of[r->text("household_id")] = r->text("age");
  std::unordered_map<std::string, std::string> category_of;
  CsvReader pr = CsvReader::open(dir / "products.csv", {"product_id", "product_category"});
  while (auto r = pr.next()) category_of[r->text("product_id")] = r->text("product_category");
  CsvReader tx = CsvReader::open(dir / "transactions.csv",
                                 {"household_id", "basket_id", "product_id", "quantity", "sales_value"});
  std::map<std::string, Basket> baskets;
  while (auto r = tx.next()) {
    const double qty = r->number("quantity"), value = r->number("sales_value");
    if (qty <= 0 || value < 0) continue;  // returns and voids are not sales at the till
    Basket& b = baskets[r->text("basket_id")];
    auto band = band_of.find(r->text("household_id"));
    if (band != band_of.end()) b.band = band->second;
    const std::string product = r->text("product_id");
    auto cat = category_of.find(product);
    const std::string category = cat == category_of.end() ? "" : cat->second;
    const bool restricted = kRestrictedCategories.count(category) > 0;
    b.restricted = b.restricted || restricted;
    b.lines.push_back({{"product", product}, {"category", category}, {"quantity", qty}, {"price", value},
                       {"restricted", restricted}});
  }
  std::vector<Basket> out;
  for (auto& [id, b] : baskets) out.push_back(std::move(b));
  if (out.empty()) throw InvalidInput(dir.string() + "/transactions.csv: no baskets");
  return out;
}

std::string http_error(const httplib::Result& r, const std::string& what) {
  if (!r) return what + ": " + httplib::to_string(r.error());
  return what + ": HTTP " + std::to_string(r->status) + " " + r->body.substr(0, 300);
}

}  // namespace

std::vector<CashierPlan> default_cashiers() {
  std::vector<CashierPlan> c;
  for (int i = 1; i <= 5; ++i) c.push_back({"c" + std::to_string(i), 0.95, 0.02});
  c.push_back({"c6", 0.30, 0.02});
  return c;
}

std::vector<CashierPlan> parse_cashiers(const std::string& text) {
  std::vector<CashierPlan> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string item = trim(text.substr(start, end - start));
    const size_t colon = item.find(':');
    const auto rate = colon == std::string::npos ? std::nullopt : parse_number(item.substr(colon + 1));
    if (item.empty() || !rate || *rate < 0 || *rate > 1 || colon == 0) {
      throw InvalidInput("--cashiers: '" + item + "' must be ID:RATE with RATE in 0..1 (e.g. c1:0.95)");
    }
    out.push_back({item.substr(0, colon), *rate, CashierPlan{}.check_when_passed});
    start = end + 1;
  }
  return out;
}

namespace {

// The options with their defaults filled in; InvalidInput for a bad one.
StoreDayOptions resolved(const StoreDayOptions& in) {
  StoreDayOptions o = in;
  if (o.cashiers.empty()) o.cashiers = default_cashiers();
  if (o.faces_dir.empty()) o.faces_dir = default_data_dir();
  if (o.retail_dir.empty()) o.retail_dir = default_shared_dir() / "data" / "retail";
  if (o.date.empty()) o.date = format_date(now_ms());
  if (o.customers < 1) throw InvalidInput("replay: --customers must be >= 1");
  if (o.concurrency < 1) throw InvalidInput("replay: --concurrency must be >= 1");
  if (!(o.open_hour >= 0 && o.open_hour < o.close_hour && o.close_hour <= 24)) {
    throw InvalidInput("replay: opening hours must satisfy 0 <= open < close <= 24");
  }
  if (o.restricted_share < 0 || o.restricted_share > 1 || o.minor_share < 0 || o.minor_share > 1) {
    throw InvalidInput("replay: --restricted-share and --minor-share must be in 0..1");
  }
  return o;
}

// The day's customers: lane, basket (with alcohol at restricted_share),
// a photo of a plausible age (a 13-17-year-old at minor_share of the
// alcohol buyers), the times of photo and sale, the cashier's coin.
// Each customer points into `baskets`, which must outlive them.
std::vector<Customer> plan_customers(const StoreDayOptions& o, int64_t day, const std::vector<Basket>& baskets) {
  const int lanes = static_cast<int>(o.cashiers.size());
  const LabelSet labels = read_labels(o.faces_dir);
  std::map<int, std::vector<const LabelRow*>> by_age;
  for (const auto& r : labels.rows) by_age[r.age].push_back(&r);
  std::vector<const Basket*> with_alcohol, without;
  for (const auto& b : baskets) (b.restricted ? with_alcohol : without).push_back(&b);
  if (with_alcohol.empty() || without.empty()) throw InvalidInput("replay: the retail data needs baskets with and without alcohol");

  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto pick_photo = [&](int lo, int hi) -> const LabelRow* {
    std::vector<const LabelRow*> pool;
    for (int a = lo; a <= hi; ++a) {
      auto it = by_age.find(a);
      if (it != by_age.end()) pool.insert(pool.end(), it->second.begin(), it->second.end());
    }
    if (pool.empty()) throw InvalidInput("replay: no photo aged " + std::to_string(lo) + "-" + std::to_string(hi));
    return pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng)];
  };

  std::vector<Customer> customers(static_cast<size_t>(o.customers));
  const int64_t open = day + int64_t(o.open_hour) * 3600 * kMsPerSecond;
  const int64_t length = int64_t(o.close_hour - o.open_hour) * 3600 * kMsPerSecond;
  std::vector<int64_t> lane_free(static_cast<size_t>(lanes), open);
  for (int i = 0; i < o.customers; ++i) {
    Customer& c = customers[static_cast<size_t>(i)];
    c.lane = i % lanes;
    const bool alcohol = unit(rng) < o.restricted_share;
    const auto& pool = alcohol ? with_alcohol : without;
    c.basket = pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng)];
    const bool minor = alcohol && unit(rng) < o.minor_share;
    const auto [lo, hi] = minor ? std::pair<int, int>{kMinorLow, kMinorHigh}
                                : (c.basket->band.empty() ? std::pair<int, int>{kAdultLow, kAdultHigh}
                                                          : band_ages(c.basket->band));
    const LabelRow* photo = pick_photo(lo, hi);
    c.photo = photo->path;
    c.true_age = photo->age;
    c.photographed = alcohol || o.photograph_all;
    // Spread over the day; a lane serves one customer at a time.
    const int64_t planned = open + length * i / o.customers +
                            static_cast<int64_t>(unit(rng) * double(length) / o.customers);
    const int64_t start = std::max(planned, lane_free[static_cast<size_t>(c.lane)] + 5 * kMsPerSecond);
    c.photo_ms = start + static_cast<int64_t>((10 + 50 * unit(rng)) * kMsPerSecond);
    c.sale_ms = c.photo_ms + static_cast<int64_t>((30 + 90 * unit(rng)) * kMsPerSecond);
    lane_free[static_cast<size_t>(c.lane)] = c.sale_ms;
    c.draw = unit(rng);
    c.transaction = o.store + "-" + o.date + "-" + std::to_string(i + 1);
  }
  return customers;
}

// One customer at the till: the camera's photo (when taken) to
// /v1/estimate with the checkout context, then the sale to /v1/sales, with
// the cashier's check drawn from their plan. Throws IoError on any failure.
void serve_customer(httplib::Client& client, const httplib::Headers& auth, const StoreDayOptions& o, Customer& c) {
  const CashierPlan& cashier = o.cashiers[static_cast<size_t>(c.lane)];
  const std::string lane = std::to_string(c.lane + 1);
  const bool sends_txn = std::find(o.lanes_without_transaction.begin(), o.lanes_without_transaction.end(),
                                   c.lane + 1) == o.lanes_without_transaction.end();
  bool asked = false;
  if (c.photographed) {
    httplib::Headers h = auth;
    h.emplace("X-Agegate-Store", o.store);
    h.emplace("X-Agegate-Lane", lane);
    h.emplace("X-Agegate-Cashier", cashier.id);
    h.emplace("X-Agegate-Time", format_iso8601(c.photo_ms));
    if (sends_txn) h.emplace("X-Agegate-Transaction", c.transaction);
    const std::string body = read_file(c.photo);
    auto r = client.Post("/v1/estimate", h, body, "image/jpeg");
    if (!r || r->status != 200) throw IoError(http_error(r, "POST /v1/estimate"));
    const json j = json::parse(r->body);
    c.decision = j.at("faces").empty() ? "no_face" : j.at("faces")[0].at("decision").get<std::string>();
    if (!j.value("recorded", false)) throw IoError("POST /v1/estimate: the service did not record the event (is it running with --db?)");
    asked = c.decision != "no_check";
  }
  const bool restricted = c.basket->restricted;
  c.checked = restricted && c.draw < (asked ? cashier.check_when_asked : cashier.check_when_passed);
  const std::string id_check = !c.checked ? "not_checked" : c.true_age < kLegalAge ? "refused" : "adult";
  json sale{{"transaction", c.transaction}, {"store", o.store}, {"lane", lane}, {"cashier", cashier.id},
            {"time", format_iso8601(c.sale_ms)}, {"id_check", id_check}, {"lines", c.basket->lines}};
  auto r = client.Post("/v1/sales", auth, sale.dump(), "application/json");
  if (!r || r->status != 201) throw IoError(http_error(r, "POST /v1/sales"));
}

// Replays the customers through the service, `concurrency` tills at once,
// with progress; returns the seconds it took. IoError on the first failure.
double replay_customers(const StoreDayOptions& o, std::vector<Customer>& customers) {
  std::atomic<size_t> next{0};
  std::mutex err_mu;
  std::string first_error;
  Progress progress("replay", o.customers, "customers");
  std::atomic<int64_t> done{0};
  auto worker = [&] {
    httplib::Client client(o.url);
    client.set_read_timeout(std::chrono::seconds(60));
    client.set_connection_timeout(std::chrono::seconds(10));
    httplib::Headers auth;
    if (!o.token.empty()) auth.emplace("Authorization", "Bearer " + o.token);
    for (size_t i = next++; i < customers.size(); i = next++) {
      {
        std::lock_guard<std::mutex> lock(err_mu);
        if (!first_error.empty()) return;
      }
      try {
        serve_customer(client, auth, o, customers[i]);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(err_mu);
        if (first_error.empty()) first_error = e.what();
        return;
      }
      done++;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < o.concurrency; ++t) threads.emplace_back(worker);
  while (done.load() < o.customers) {
    {
      std::lock_guard<std::mutex> lock(err_mu);
      if (!first_error.empty()) break;
    }
    progress.update(done.load());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (auto& t : threads) t.join();
  if (!first_error.empty()) throw IoError("replay against " + o.url + ": " + first_error);
  progress.update(o.customers, "", /*force=*/true);
  progress.finish();
  return progress.elapsed_seconds();
}

// What really happened, per cashier (the truth the audit cannot see).
json truth_per_cashier(const StoreDayOptions& o, const std::vector<Customer>& customers, int64_t* total_restricted,
                       int64_t* total_minor_unchecked) {
  const int lanes = static_cast<int>(o.cashiers.size());
  json per = json::array();
  for (int l = 0; l < lanes; ++l) {
    int64_t n = 0, restricted = 0, asked = 0, unchecked = 0, refused = 0, minors = 0, minors_unchecked = 0,
            minors_passed_by_camera = 0;
    for (const auto& c : customers) {
      if (c.lane != l) continue;
      n++;
      if (!c.basket->restricted) continue;
      restricted++;
      const bool a = c.decision != "no_check";
      asked += a;
      unchecked += a && !c.checked;
      refused += c.checked && c.true_age < kLegalAge;
      if (c.true_age < kLegalAge) {
        minors++;
        minors_unchecked += !c.checked;
        minors_passed_by_camera += !a;
      }
    }
    *total_restricted += restricted;
    *total_minor_unchecked += minors_unchecked;
    const CashierPlan& p = o.cashiers[static_cast<size_t>(l)];
    per.push_back({{"cashier", p.id}, {"lane", std::to_string(l + 1)}, {"check_when_asked", p.check_when_asked},
                   {"customers", n}, {"restricted_sales", restricted}, {"camera_asked", asked},
                   {"unchecked_risky", unchecked}, {"refused", refused}, {"minors", minors},
                   {"minors_sold_unchecked", minors_unchecked}, {"minors_passed_by_camera", minors_passed_by_camera}});
  }
  return per;
}

}  // namespace

StoreDaySummary replay_store_day(const StoreDayOptions& in) {
  const StoreDayOptions o = resolved(in);
  const int64_t day = parse_iso8601(o.date + "T00:00:00Z", "replay: --date");
  const std::vector<Basket> baskets = read_baskets(o.retail_dir);  // the customers point into it
  std::vector<Customer> customers = plan_customers(o, day, baskets);
  const double seconds = replay_customers(o, customers);
  int64_t total_restricted = 0, total_minor_unchecked = 0;
  const json per = truth_per_cashier(o, customers, &total_restricted, &total_minor_unchecked);
  StoreDaySummary s;
  s.json = {{"store", o.store}, {"date", o.date}, {"customers", o.customers}, {"restricted_sales", total_restricted},
            {"minors_sold_unchecked", total_minor_unchecked}, {"seconds", seconds},
            {"customers_per_s", o.customers / std::max(1e-9, seconds)}, {"cashiers", per},
            {"lanes_without_transaction", o.lanes_without_transaction}, {"seed", o.seed}};
  return s;
}

}  // namespace agegate
