// The checkout records commands as a user runs them: import-sales loads a
// whole file or nothing (unless --skip-bad), db info/prune, audit's checks.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agegate/core/fs.h"
#include "agegate/store/store.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::run_agegate;

const char* kHeader = "transaction,store,lane,cashier,time,id_check,product,category,quantity,price,restricted\n";

json info(const std::string& db) {
  auto r = run_agegate("db info --db " + db);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out);
}

TEST(RecordsCli, ABadRowLoadsNothingUnlessSkipBadIsGiven) {
  const fs::path dir = testing::scratch_dir("import");
  const std::string db = "sqlite:" + (dir / "c.db").string();
  write_file_atomic(dir / "day.csv", std::string(kHeader) +
                                         "T1,S1,1,c1,2020-01-06T10:00:00Z,adult,p1,LIQUOR,1,20,true\n"
                                         "T2,S1,1,c1,2020-01-06T10:05:00Z,not_checked,p2,MILK,1,-1,false\n"
                                         "T3,S1,1,c1,2020-01-06T10:09:00Z,not_checked,p3,MILK,1,1,false\n");
  auto r = run_agegate("import-sales --db " + db + " " + (dir / "day.csv").string());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("day.csv line 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("lines[0].price"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing loaded"), std::string::npos) << r.err;
  EXPECT_EQ(info(db).at("sales"), 0);

  r = run_agegate("import-sales --skip-bad --db " + db + " " + (dir / "day.csv").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json out = json::parse(r.out);
  EXPECT_EQ(out.at("inserted"), 2);
  EXPECT_EQ(out.at("bad_rows_skipped"), 1);
  EXPECT_NE(r.err.find("skipped the 1 bad row"), std::string::npos) << r.err;
  // Loading the same file again adds nothing.
  r = run_agegate("import-sales --skip-bad --db " + db + " " + (dir / "day.csv").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).at("duplicates"), 2);
  const json i = info(db);
  EXPECT_EQ(i.at("sales"), 2);
  EXPECT_EQ(i.at("schema_version"), kStoreSchemaVersion);

  // Everything here is from 2020: pruning at 30 days removes it all.
  r = run_agegate("db prune --older-than 30 --db " + db);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("0 events and 2 sales"), std::string::npos) << r.out;
  EXPECT_EQ(info(db).at("sale_lines"), 0);
}

TEST(RecordsCli, AuditAndDbRefuseWhatTheyCannotUse) {
  const fs::path dir = testing::scratch_dir("audit");
  const std::string db = "sqlite:" + (dir / "c.db").string();
  auto r = run_agegate("audit --db " + db + " --from 2026-11-10 --to 2026-11-01 --out " + (dir / "a").string());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--from must be before --to"), std::string::npos) << r.err;
  r = run_agegate("audit --db " + db + " --from yesterday --out " + (dir / "a").string());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--from"), std::string::npos) << r.err;
  r = run_agegate("db info --db mysql://x");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_agegate("db prune --older-than -1 --db " + db);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  // An empty database audits to an empty report, not an error.
  r = run_agegate("audit --db " + db + " --json --out " + (dir / "a").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).at("restricted_sales"), 0);
  EXPECT_TRUE(fs::exists(dir / "a" / "index.html"));
  // Its options, seed and revision beside the report, as every command writes them.
  r = run_agegate("audit --db " + db + " --min-asked 7 --from 2026-11-01 --out " + (dir / "a").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json ran = json::parse(read_file(dir / "a" / "options.json"));
  EXPECT_EQ(ran.at("command"), "audit");
  EXPECT_EQ(ran.at("options").at("min_asked"), 7);
  EXPECT_EQ(ran.at("options").at("from"), "2026-11-01");
  EXPECT_EQ(ran.at("options").at("db"), db);
  EXPECT_TRUE(ran.contains("git"));
  EXPECT_TRUE(ran.contains("seed"));
}

}  // namespace
}  // namespace agegate
