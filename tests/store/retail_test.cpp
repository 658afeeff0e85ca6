// Reading the retail files: each kind of bad row is named by file, line and
// field and left out; unknown products and scientific-notation ids are kept
// and reported; a missing file or column stops the read.
#include <gtest/gtest.h>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/store/retail.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;

const char* kHouseholds = "household_id,age,income\n1,25-34,50-74K\n2,65+,\n3,,\n";
const char* kProducts =
    "product_id,manufacturer_id,department,brand,product_category,product_type,package_size\n"
    "10,1,GROCERY,National,BEERS/ALES,LAGER,12 OZ\n"
    "11,1,PRODUCE,Private,APPLES,GALA,1 LB\n"
    "9e+05,1,COSMETICS,National,FRAGRANCES,DESIGNER,.8 OZ\n";
const char* kTxHeader =
    "household_id,store_id,basket_id,product_id,quantity,sales_value,retail_disc,coupon_disc,coupon_match_disc,week,"
    "transaction_timestamp\n";

fs::path shop(const std::string& name, const std::string& transactions, const std::string& households = kHouseholds,
              const std::string& products = kProducts) {
  const fs::path dir = testing::scratch_dir(name);
  write_file_atomic(dir / "households.csv", households);
  write_file_atomic(dir / "products.csv", products);
  write_file_atomic(dir / "transactions.csv", std::string(kTxHeader) + transactions);
  return dir;
}

std::vector<std::string> messages(const std::vector<RetailProblem>& problems, RetailProblem::Kind kind) {
  std::vector<std::string> out;
  for (const auto& p : problems) {
    if (p.kind == kind) out.push_back(p.message);
  }
  return out;
}

TEST(RetailFiles, GoodFilesReadWhole) {
  const fs::path dir = shop("retail_good",
                            "1,300,b1,10,1,7.99,0,0,0,5,2017-01-28T19:06:53Z\n"
                            "1,300,b1,11,2,3.5,0,0,0,5,2017-01-28T19:06:53Z\n"
                            "77,301,b2,9e+05,1,20,0,0,0,6,2017-02-02T10:00:00Z\n");
  std::vector<RetailProblem> problems;
  const RetailData d = read_retail_dir(dir, {}, &problems);
  ASSERT_EQ(d.households.size(), 3u);
  EXPECT_EQ(d.households[1].band, "65+");
  EXPECT_EQ(d.households[2].band, "");  // unknown: allowed
  ASSERT_EQ(d.products.size(), 3u);
  EXPECT_TRUE(d.products[0].restricted);
  EXPECT_FALSE(d.products[1].restricted);
  EXPECT_EQ(d.products[2].id, "900000");
  ASSERT_EQ(d.lines.size(), 3u);
  EXPECT_EQ(d.lines[0].source_line, 2);
  EXPECT_DOUBLE_EQ(d.lines[1].quantity, 2);
  EXPECT_EQ(d.lines[1].week, 5);
  EXPECT_EQ(d.lines[2].product, "900000");
  EXPECT_EQ(d.lines[2].household, "77");  // no demographics: kept
  // The two rewritten ids are the only reports.
  EXPECT_EQ(messages(problems, RetailProblem::Kind::kRewrittenId).size(), 2u);
  EXPECT_EQ(problems.size(), 2u);
}

TEST(RetailFiles, EachBadRowIsNamedAndLeftOut) {
  const fs::path dir = shop("retail_bad",
                            "1,300,b1,10,1,7.99,0,0,0,5,2017-01-28T19:06:53Z\n"  // line 2: good
                            "1,300,b1,10,-1,7.99,0,0,0,5,2017-01-28T19:06:53Z\n"  // 3: negative quantity
                            "1,300,b1,10,1,x,0,0,0,5,2017-01-28T19:06:53Z\n"      // 4: not a number
                            "1,300,b1,10,1,1,0,0,0,54,2017-01-28T19:06:53Z\n"     // 5: week
                            "1,300,b1,10,1,1,0,0,0,5,2017-01-28 19:06:53\n"       // 6: no zone
                            "1,300,b 1,10,1,1,0,0,0,5,2017-01-28T19:06:53Z\n"     // 7: not an opaque id
                            "1,300,b1,10,1,1,0,0,0,5\n"                           // 8: short row
                            "1,300,b1,12345,1,1,0,0,0,5,2017-01-28T19:06:53Z\n",  // 9: unknown product
                            std::string(kHouseholds) + "4,twenty,\n1,35-44,\n",    // bad band, duplicate
                            std::string(kProducts) + "10,1,GROCERY,National,MILK,MILK,1 L\n");  // duplicate
  std::vector<RetailProblem> problems;
  const RetailData d = read_retail_dir(dir, {}, &problems);
  const auto bad = messages(problems, RetailProblem::Kind::kBadRow);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"households.csv line 5", "'twenty'"},          {"households.csv line 6", "listed twice"},
      {"products.csv line 5", "listed twice"},        {"transactions.csv line 3", "'quantity'"},
      {"transactions.csv line 4", "sales_value"},     {"transactions.csv line 5", "week"},
      {"transactions.csv line 6", "transaction_timestamp"}, {"transactions.csv line 7", "'basket_id'"},
      {"transactions.csv line 8", "fields where the header has"}};
  ASSERT_EQ(bad.size(), expected.size()) << ::testing::PrintToString(bad);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NE(bad[i].find(expected[i].first), std::string::npos) << bad[i];
    EXPECT_NE(bad[i].find(expected[i].second), std::string::npos) << bad[i];
  }
  const auto unknown = messages(problems, RetailProblem::Kind::kUnknownProduct);
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_NE(unknown[0].find("transactions.csv line 9: field 'product_id': 12345 is not in products.csv"),
            std::string::npos)
      << unknown[0];
  // The good line and the unknown product's line are kept; the rest left out.
  ASSERT_EQ(d.lines.size(), 2u);
  EXPECT_EQ(d.lines[1].product, "12345");
  EXPECT_EQ(d.households.size(), 3u);
  EXPECT_EQ(d.products.size(), 3u);
}

TEST(RetailFiles, AMissingFileOrColumnStopsTheRead) {
  const fs::path dir = shop("retail_missing", "");
  fs::remove(dir / "products.csv");
  std::vector<RetailProblem> problems;
  try {
    read_retail_dir(dir, {}, &problems);
    FAIL() << "read without products.csv";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("products.csv"), std::string::npos) << e.what();
  }
  const fs::path cols = shop("retail_columns", "", "household_id,income\n1,50-74K\n");
  try {
    read_retail_dir(cols, {}, &problems);
    FAIL() << "read households.csv without an age column";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("age"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_retail_dir(testing::scratch_dir("retail_none") / "nowhere", {}, &problems), IoError);
}

TEST(RetailFiles, RestrictedCategoriesAreConfigurable) {
  const fs::path dir = shop("retail_restricted", "");
  std::vector<RetailProblem> problems;
  RetailReadOptions o;
  o.restricted_categories = {"APPLES"};
  const RetailData d = read_retail_dir(dir, o, &problems);
  EXPECT_FALSE(d.products[0].restricted);
  EXPECT_TRUE(d.products[1].restricted);
}

}  // namespace
}  // namespace agegate
