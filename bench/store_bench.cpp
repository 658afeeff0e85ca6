// Checkout database benchmark: how many checkout events per second the store
// takes from 1, 4 and 16 writer threads, and how long the compliance audit
// takes on a simulated month of a 20-lane store (synthetic records written
// straight to the store; the replay through the service is
// scripts/store-day.sh). Prints a table; the figures are for the machine it
// runs on.
// Usage: agegate_store_bench DB_URL [DB_URL ...]   (each URL must point at an empty database)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agegate/analytics/audit.h"
#include "agegate/core/log.h"
#include "agegate/core/time.h"
#include "agegate/store/store.h"

namespace {
using namespace agegate;
using Clock = std::chrono::steady_clock;

constexpr int kEventsPerThreadRun = 4000;
constexpr int kLanes = 20, kDays = 30, kCustomersPerLaneDay = 150;  // 3,000 customers a day
constexpr double kRestrictedShare = 0.10;
const int64_t kMonthStart = parse_iso8601("2026-10-01T00:00:00Z", "bench");

CheckoutEvent make_event(const std::string& lane, int64_t t, const std::string& txn, double age) {
  CheckoutEvent e;
  e.event_id = new_event_id();
  e.time_ms = t;
  e.context = {"S1", lane, txn, "", std::nullopt};
  e.model = "agegate.agm@bench";
  e.policy = R"({"challenge_age":25,"interval_level":0.9,"legal_age":18,"max_risk":0.01})";
  e.faces = 1;
  e.decision = age < 25 ? "id_check" : "no_check";
  e.reason = age < 25 ? "estimate < challenge age 25" : "estimate >= 25 and P(under 18) <= 1%";
  e.estimate = age;
  e.low = age - 8;
  e.high = age + 10;
  e.p_under_legal = 0.001;
  e.decode_ms = 0.8;
  e.detect_ms = 0;
  e.estimate_ms = 14;
  e.total_ms = 16;
  return e;
}

double events_per_second(Store& store, int threads) {
  std::vector<std::thread> pool;
  const int per = kEventsPerThreadRun / threads;
  const auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per; ++i) store.record_event(make_event(std::to_string(t + 1), now_ms(), "", 40));
    });
  }
  for (auto& th : pool) th.join();
  return per * threads / std::chrono::duration<double>(Clock::now() - t0).count();
}

// A month of a 20-lane store: every customer photographed, 10% buy alcohol,
// lane 20 careless. Returns {sales, events}.
std::pair<int64_t, int64_t> fill_month(Store& store) {
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> u(0, 1);
  int64_t n_sales = 0, n_events = 0;
  for (int d = 0; d < kDays; ++d) {
    std::vector<Sale> sales;
    for (int lane = 1; lane <= kLanes; ++lane) {
      for (int k = 0; k < kCustomersPerLaneDay; ++k) {
        const int64_t t = kMonthStart + d * kMsPerDay + (8 * 3600 + k * 336) * kMsPerSecond;
        const std::string txn = "d" + std::to_string(d) + "-l" + std::to_string(lane) + "-" + std::to_string(k);
        const double age = 18 + 60 * u(rng);
        const CheckoutEvent e = make_event(std::to_string(lane), t, txn, age);
        store.record_event(e);
        n_events++;
        Sale s;
        s.transaction = txn;
        s.store = "S1";
        s.lane = std::to_string(lane);
        s.cashier = "c" + std::to_string(lane);
        s.time_ms = t + 60 * kMsPerSecond;
        const bool restricted = u(rng) < kRestrictedShare;
        const double check_rate = lane == kLanes ? 0.3 : 0.95;
        s.id_check = e.asked_for_id() && u(rng) < check_rate ? IdCheck::kAdult : IdCheck::kNotChecked;
        s.lines.push_back({"p" + std::to_string(k), "BREAD", 1, 2.5, false});
        s.lines.push_back({"q" + std::to_string(k), "MILK", 2, 3.1, false});
        if (restricted) s.lines.push_back({"b" + std::to_string(k), "BEERS/ALES", 1, 8.99, true});
        sales.push_back(std::move(s));
      }
    }
    store.record_sales(sales);
    n_sales += static_cast<int64_t>(sales.size());
  }
  return {n_sales, n_events};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DB_URL [DB_URL ...] (empty databases)\n", argv[0]);
    return 2;
  }
  set_log_level("warn");
  unsigned cores = std::thread::hardware_concurrency();
  std::printf("machine: %u cores\n", cores);
  std::printf("%-12s %14s %14s %14s %12s %12s %12s\n", "backend", "events/s x1", "events/s x4", "events/s x16",
              "month fill s", "audit s", "flagged");
  for (int i = 1; i < argc; ++i) {
    try {
      StoreOptions so;
      so.connections = 16;
      auto store = Store::open(argv[i], so);
      const double r1 = events_per_second(*store, 1), r4 = events_per_second(*store, 4),
                   r16 = events_per_second(*store, 16);
      store->prune(now_ms() + kMsPerDay);  // the month is in the past: start it clean
      const auto t0 = Clock::now();
      const auto [sales, events] = fill_month(*store);
      const double fill_s = std::chrono::duration<double>(Clock::now() - t0).count();
      AuditOptions o;
      o.range.from_ms = kMonthStart;
      o.range.to_ms = kMonthStart + kDays * kMsPerDay;
      const AuditResult r = run_audit(*store, o);
      std::string flagged;
      for (const auto& c : r.cashiers) {
        if (c.flagged) flagged += (flagged.empty() ? "" : ",") + c.cashier;
      }
      std::printf("%-12s %14.0f %14.0f %14.0f %12.1f %12.2f %12s\n",
                  store->backend() == StoreBackend::kSqlite ? "sqlite" : "postgresql", r1, r4, r16, fill_s,
                  r.seconds, flagged.c_str());
      std::printf("  month: %lld sales (%lld restricted), %lld events, %d lanes, %d days\n",
                  static_cast<long long>(sales), static_cast<long long>(r.sales), static_cast<long long>(events),
                  kLanes, kDays);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", argv[i], e.what());
      return 1;
    }
  }
  return 0;
}
