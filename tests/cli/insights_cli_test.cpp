// The purchase-insights commands on the real retail sample, as a user runs
// them: import-retail (whole or nothing, --strict, --skip-bad), insights
// (report, charts, both hit rates on the held-out weeks) and recommend.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agegate/core/fs.h"
#include "agegate/core/run_info.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::run_agegate;

const fs::path kRetail = default_shared_dir() / "data" / "retail";

json info(const std::string& db) {
  auto r = run_agegate("db info --db " + db);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out);
}

// One database with the real sample, imported once for the tests below.
const std::string& imported_db() {
  static const std::string db = [] {
    const fs::path dir = testing::scratch_dir("retail_cli_db");
    const std::string url = "sqlite:" + (dir / "retail.db").string();
    auto r = run_agegate("import-retail --db " + url + " " + kRetail.string());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return url;
  }();
  return db;
}

TEST(InsightsCli, ImportRetailLoadsTheRealSampleAndReportsItsGaps) {
  const fs::path dir = testing::scratch_dir("retail_cli_import");
  const std::string db = "sqlite:" + (dir / "r.db").string();
  auto r = run_agegate("import-retail --db " + db + " " + kRetail.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json out = json::parse(r.out);
  EXPECT_EQ(out.at("households"), 801);
  EXPECT_EQ(out.at("products"), 92331);
  EXPECT_EQ(out.at("lines"), 100000);
  EXPECT_EQ(out.at("lines_with_unknown_product"), 316);
  EXPECT_EQ(out.at("ids_rewritten"), 2);
  EXPECT_NE(r.err.find("'9e+05' read as the whole number 900000"), std::string::npos) << r.err;
  EXPECT_EQ(info(db).at("retail_lines"), 100000);

  // --strict refuses the unknown products: nothing loaded, nothing lost.
  r = run_agegate("import-retail --strict --db " + db + " " + kRetail.string());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("is not in products.csv"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing loaded"), std::string::npos) << r.err;
  EXPECT_EQ(info(db).at("retail_lines"), 100000);
  // With --skip-bad it drops exactly those lines.
  r = run_agegate("import-retail --strict --skip-bad --db " + db + " " + kRetail.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(info(db).at("retail_lines"), 100000 - 316);
}

TEST(InsightsCli, ABadRowOrAMissingFileLoadsNothing) {
  const fs::path dir = testing::scratch_dir("retail_cli_bad");
  const std::string db = "sqlite:" + (dir / "r.db").string();
  fs::create_directories(dir / "shop");
  write_file_atomic(dir / "shop" / "households.csv", "household_id,age\n1,25-34\n");
  write_file_atomic(dir / "shop" / "products.csv",
                    "product_id,department,brand,product_category,product_type\n10,GROCERY,National,MILK,MILK\n");
  write_file_atomic(dir / "shop" / "transactions.csv",
                    "household_id,store_id,basket_id,product_id,quantity,sales_value,week,transaction_timestamp\n"
                    "1,300,b1,10,1,2.5,5,2017-01-28T19:06:53Z\n"
                    "1,300,b2,10,1,2.5,five,2017-01-28T19:06:53Z\n");
  auto r = run_agegate("import-retail --db " + db + " " + (dir / "shop").string());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("transactions.csv line 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("week"), std::string::npos) << r.err;
  EXPECT_EQ(info(db).at("retail_lines"), 0);
  r = run_agegate("import-retail --skip-bad --db " + db + " " + (dir / "shop").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(info(db).at("retail_lines"), 1);

  fs::remove(dir / "shop" / "products.csv");
  r = run_agegate("import-retail --db " + db + " " + (dir / "shop").string());
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("products.csv"), std::string::npos) << r.err;
  EXPECT_EQ(info(db).at("retail_lines"), 1);

  // Insights on a database without retail data says what to do.
  const std::string empty = "sqlite:" + (dir / "empty.db").string();
  r = run_agegate("insights --no-confusion --db " + empty + " --out " + (dir / "out").string());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("import-retail"), std::string::npos) << r.err;
}

TEST(InsightsCli, InsightsOnTheRealDataWriteTheReportAndPrintBothHitRates) {
  const fs::path out = testing::scratch_dir("retail_cli_insights");
  auto r = run_agegate("insights --no-confusion --db " + imported_db() + " --out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* method : {"band_lift", "band_best_sellers", "overall_best_sellers"}) {
    const size_t at = r.out.find(std::string("  ") + method);
    ASSERT_NE(at, std::string::npos) << method << "\n" << r.out;
    EXPECT_NE(r.out.substr(at, 40).find('%'), std::string::npos) << r.out;
  }
  EXPECT_NE(r.out.find("held-out weeks 46-53"), std::string::npos) << r.out;
  for (const char* chart : {"heatmap", "recommendations", "restricted", "evaluation"}) {
    EXPECT_TRUE(fs::exists(out / "charts" / (std::string(chart) + ".png"))) << chart;
  }
  const json j = json::parse(read_file(out / "insights.json"));
  EXPECT_EQ(j.at("lines"), 100000);
  EXPECT_EQ(j.at("baskets_with_band"), 30848);
  ASSERT_EQ(j.at("bands").size(), 6u);
  for (const auto& m : j.at("evaluation").at("methods")) {
    EXPECT_GT(m.at("hit_rate").at("n").get<int>(), 4000) << m.dump();
  }
  // No band below the challenge age is ever offered beer, wine or spirits.
  for (const auto& band : j.at("bands")) {
    const std::string name = band.at("band");
    if (name != "19-24") continue;
    for (const auto& rec : band.at("recommendations")) EXPECT_FALSE(rec.at("restricted").get<bool>()) << rec.dump();
  }
  EXPECT_TRUE(fs::exists(out / "options.json"));
}

TEST(InsightsCli, APredictionsFileGivesTheCameraBandsAndRecommendAnswers) {
  const fs::path dir = testing::scratch_dir("retail_cli_confusion");
  // A camera that adds ten years to everyone.
  std::string csv = "file_name,real_age,pred_age,low,high,p_under_legal\n";
  for (int age = 19; age < 80; ++age) {
    csv += "p" + std::to_string(age) + ".jpg," + std::to_string(age) + "," + std::to_string(age + 10) + ".00,0,0,0\n";
  }
  write_file_atomic(dir / "pred.csv", csv);
  auto r = run_agegate("insights --resamples 20 --predictions " + (dir / "pred.csv").string() + " --db " +
                       imported_db() + " --out " + (dir / "out").string() + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_TRUE(j.at("confusion").is_object());
  EXPECT_EQ(j.at("confusion").at("counts").at(0).at(1), 6);  // 19-24 estimated 29-34: all in 25-34
  for (const auto& band : j.at("bands")) {
    for (const auto& rec : band.at("recommendations")) EXPECT_TRUE(rec.contains("estimated_bands")) << rec.dump();
  }

  const std::string from = (dir / "out" / "recommendations.json").string();
  r = run_agegate("recommend --from " + from + " --age 22 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json a = json::parse(r.out);
  EXPECT_EQ(a.at("band"), "19-24");
  EXPECT_FALSE(a.at("restricted_allowed").get<bool>());
  for (const auto& item : a.at("items")) EXPECT_FALSE(item.at("restricted").get<bool>());
  r = run_agegate("recommend --db " + imported_db() + " --band 65+ --k 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("band 65+"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 3. "), std::string::npos) << r.out;
  r = run_agegate("recommend --from " + from + " --band 30-39");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown band '30-39'"), std::string::npos) << r.err;
  r = run_agegate("recommend --from " + from);
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

}  // namespace
}  // namespace agegate
