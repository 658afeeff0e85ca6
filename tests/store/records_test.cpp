// Sales as the till sends them: JSON objects, CSV and JSON Lines files, and
// the errors that name the row and field.
#include <gtest/gtest.h>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/time.h"
#include "agegate/store/records.h"
#include "test_support.h"

namespace agegate {
namespace {
using json = nlohmann::json;

json good_sale() {
  return json::parse(R"({"transaction": "T1", "store": "S1", "lane": "3", "cashier": "C7",
    "time": "2026-11-21T14:03:07+01:00", "id_check": "not_checked",
    "lines": [{"product": "p1", "category": "BEERS/ALES", "quantity": 2, "price": 7.99, "restricted": true},
              {"product": "p2", "price": 1.5}]})");
}

std::string error_of(const json& j) {
  try {
    parse_sale(j, "POST /v1/sales");
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

TEST(Sales, AGoodSaleParsesWithDefaults) {
  const Sale s = parse_sale(good_sale(), "test");
  EXPECT_EQ(s.transaction, "T1");
  EXPECT_EQ(s.time_ms, parse_iso8601("2026-11-21T13:03:07Z", "t"));
  EXPECT_EQ(s.id_check, IdCheck::kNotChecked);
  ASSERT_EQ(s.lines.size(), 2u);
  EXPECT_TRUE(s.restricted());
  EXPECT_DOUBLE_EQ(s.lines[1].quantity, 1);
  EXPECT_FALSE(s.lines[1].restricted);
  EXPECT_DOUBLE_EQ(s.total(), 9.49);
  // to_json and back is the same sale.
  const Sale again = parse_sale(to_json(s), "round trip");
  EXPECT_EQ(again.time_ms, s.time_ms);
  EXPECT_EQ(again.lines.size(), 2u);
}

TEST(Sales, EachBadFieldIsNamed) {
  json j = good_sale();
  j["lines"][1]["price"] = "cheap";
  EXPECT_NE(error_of(j).find("field 'lines[1].price' must be a number"), std::string::npos) << error_of(j);
  j = good_sale();
  j["id_check"] = "maybe";
  EXPECT_NE(error_of(j).find("field 'id_check'"), std::string::npos);
  j = good_sale();
  j["time"] = "2026-11-21 14:03";
  EXPECT_NE(error_of(j).find("field 'time'"), std::string::npos) << error_of(j);
  j = good_sale();
  j["time"] = "2026-11-21T14:03:07";  // no zone
  EXPECT_NE(error_of(j).find("zone"), std::string::npos) << error_of(j);
  j = good_sale();
  j["cashier"] = "Jane Smith";
  EXPECT_NE(error_of(j).find("field 'cashier' must be an opaque id"), std::string::npos) << error_of(j);
  j = good_sale();
  j["lines"] = json::array();
  EXPECT_NE(error_of(j).find("field 'lines'"), std::string::npos);
  j = good_sale();
  j["lines"][0]["quantity"] = 0;
  EXPECT_NE(error_of(j).find("field 'lines[0].quantity'"), std::string::npos);
  j = good_sale();
  j["customer_name"] = "x";  // unknown keys are errors, not silently dropped
  EXPECT_NE(error_of(j).find("unknown field 'customer_name'"), std::string::npos);
  j = good_sale();
  j.erase("store");
  EXPECT_NE(error_of(j).find("field 'store' is required"), std::string::npos);
}

TEST(SalesFile, CsvRowsOfASaleAreGroupedAndABadRowDropsItsWholeSale) {
  const auto dir = testing::scratch_dir("csv");
  write_file_atomic(dir / "day.csv",
                    "transaction,store,lane,cashier,time,id_check,product,category,quantity,price,restricted\n"
                    "T1,S1,1,c1,2026-11-21T10:00:00Z,adult,p1,BEERS/ALES,1,7.99,true\n"
                    "T1,S1,1,c1,2026-11-21T10:00:00Z,adult,p2,BREAD,2,3.00,false\n"
                    "T2,S1,1,c1,2026-11-21T10:05:00Z,not_checked,p3,MILK,1,1.10,0\n"
                    "T2,S1,1,c1,2026-11-21T10:05:00Z,not_checked,p4,EGGS,x,2.00,0\n"
                    "T3,S1,2,c2,2026-11-21T10:07:00Z,later,p5,MILK,1,1.10,0\n"
                    "T3,S1,2,c2,2026-11-21T10:07:00Z,later,p6,MILK,1,1.10,0\n"
                    "T4,S1,2,c2,2026-11-21T10:09:00Z,refused,p7,LIQUOR,1,20,yes\n");
  std::vector<SaleProblem> problems;
  const auto sales = read_sales_file(dir / "day.csv", &problems);
  ASSERT_EQ(sales.size(), 2u);
  EXPECT_EQ(sales[0].transaction, "T1");
  EXPECT_EQ(sales[0].lines.size(), 2u);
  EXPECT_EQ(sales[1].transaction, "T4");
  EXPECT_EQ(sales[1].id_check, IdCheck::kRefused);
  EXPECT_TRUE(sales[1].lines[0].restricted);
  ASSERT_EQ(problems.size(), 2u);  // one per broken sale, not one per row
  EXPECT_NE(problems[0].message.find("day.csv line 5"), std::string::npos) << problems[0].message;
  EXPECT_NE(problems[0].message.find("quantity"), std::string::npos) << problems[0].message;
  EXPECT_NE(problems[1].message.find("line 6"), std::string::npos) << problems[1].message;
  EXPECT_NE(problems[1].message.find("id_check"), std::string::npos) << problems[1].message;
}

TEST(SalesFile, CsvRowsOfOneSaleMustBeConsecutive) {
  const auto dir = testing::scratch_dir("csv2");
  write_file_atomic(dir / "day.csv",
                    "transaction,store,lane,cashier,time,id_check,product,category,quantity,price,restricted\n"
                    "T1,S1,1,c1,2026-11-21T10:00:00Z,adult,p1,BEERS/ALES,1,7.99,true\n"
                    "T2,S1,1,c1,2026-11-21T10:05:00Z,adult,p3,MILK,1,1.10,0\n"
                    "T1,S1,1,c1,2026-11-21T10:00:00Z,adult,p2,BREAD,2,3.00,false\n");
  std::vector<SaleProblem> problems;
  const auto sales = read_sales_file(dir / "day.csv", &problems);
  EXPECT_EQ(sales.size(), 2u);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].message.find("line 4"), std::string::npos);
  EXPECT_NE(problems[0].message.find("consecutive"), std::string::npos);
}

TEST(SalesFile, JsonLinesNameTheLineOfEachBadSale) {
  const auto dir = testing::scratch_dir("jsonl");
  json bad = good_sale();
  bad["lines"][0]["restricted"] = "yes";
  write_file_atomic(dir / "day.jsonl", good_sale().dump() + "\n\n{not json\n" + bad.dump() + "\n");
  std::vector<SaleProblem> problems;
  const auto sales = read_sales_file(dir / "day.jsonl", &problems);
  EXPECT_EQ(sales.size(), 1u);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].where, "day.jsonl line 3");
  EXPECT_NE(problems[0].message.find("not valid JSON"), std::string::npos);
  EXPECT_EQ(problems[1].where, "day.jsonl line 4");
  EXPECT_NE(problems[1].message.find("lines[0].restricted"), std::string::npos);
  EXPECT_THROW(read_sales_file(dir / "day.txt", &problems), InvalidInput);
}

}  // namespace
}  // namespace agegate
