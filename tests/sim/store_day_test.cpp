// End to end: a store day replayed through a running `agegate serve --db`
// (real photos, real baskets, simulated cashiers), then `agegate audit`.
// The audit must flag the careless cashier and none of the careful ones, and
// its counts must agree with what the replay knows really happened.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <map>

#include "test_db.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;


class StoreDay : public ::testing::TestWithParam<std::string> {};

TEST_P(StoreDay, TheAuditFlagsTheCarelessCashierAndNoCarefulOne) {
  std::string db;
  if (GetParam() == "postgresql") {
    AGEGATE_REQUIRE(testing::postgres_base_url(), "no PostgreSQL cluster (run through scripts/with-postgres.sh)");
    db = testing::fresh_postgres_url("storeday");
  } else {
    db = testing::fresh_sqlite_url("storeday");
  }
  const fs::path work = testing::scratch_dir("work");
  const std::string model = std::string(AGEGATE_TEST_SOURCE_DIR) + "/models/agegate.agm";
  testing::AgegateProcess serve({"serve", "--port", "0", "--db", db, "--threads", "2", "--torch-threads", "1",
                                 "--model", model},
                                work);
  const int port = testing::serve_port_from_log(serve.wait_for_stderr("serving on http://", 120));
  ASSERT_GT(port, 0) << serve.err();
  const auto replay = testing::run_agegate("-q replay-day --url http://127.0.0.1:" + std::to_string(port) +
                                           " --customers 1200 --date 2026-11-20 --seed 7 --faces " +
                                           testing::faces_dir().string());
  serve.signal(SIGTERM);
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  ASSERT_EQ(serve.wait(60), 0) << serve.err();
  const json truth = json::parse(replay.out);

  const fs::path out = work / "audit";
  const auto audit = testing::run_agegate("audit --db " + db + " --from 2026-11-20 --to 2026-11-20 --model " + model +
                                          " --json --out " + out.string());
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  const json a = json::parse(audit.out);
  ASSERT_EQ(a.at("flagged").size(), 1u) << a.at("flagged").dump();
  EXPECT_EQ(a.at("flagged")[0].at("cashier"), "c6");
  EXPECT_GT(a.at("matching").at("by_lane").get<int>(), 0);  // lane 2 sends no transaction id
  std::map<std::string, json> by_cashier;
  for (const auto& c : a.at("cashiers")) by_cashier[c.at("cashier")] = c;
  for (const auto& t : truth.at("cashiers")) {
    const json& c = by_cashier.at(t.at("cashier").get<std::string>());
    EXPECT_EQ(c.at("restricted_sales"), t.at("restricted_sales")) << t.dump();
    EXPECT_EQ(c.at("unmatched"), 0) << t.dump();
    EXPECT_EQ(c.at("asked").at("hits"), t.at("camera_asked")) << t.dump();
    EXPECT_EQ(c.at("unchecked_risky").at("hits"), t.at("unchecked_risky")) << t.dump();
    EXPECT_EQ(c.at("refused").at("hits"), t.at("refused")) << t.dump();
    EXPECT_TRUE(c.at("tested").get<bool>()) << t.dump();
  }
  EXPECT_TRUE(a.at("estimator").at("held_out_test").contains("adults_25plus_check_rate"));
  for (const char* f : {"index.html", "audit.json", "charts/cashiers.png", "charts/weekly.png"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreDay, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace agegate
