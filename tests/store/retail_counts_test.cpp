// The insights' counts computed by the database (GROUP BY on SQLite and
// PostgreSQL) against counts worked out by hand on a small shop, and against
// the same counts from memory.
#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>

#include "agegate/store/retail_counts.h"
#include "agegate/store/store.h"
#include "test_db.h"

namespace agegate {
namespace {

// Five baskets worked through by hand:
//   b1  h1 (25-34) week 1: beer 10, apples 2, apples 3 (one product twice)
//   b2  h1 (25-34) week 3: bananas 4, an unknown product 1
//   b3  h2 (65+)   week 2: a product without a category 7
//   b4  h3 (no band) week 3: apples 1
//   b5  h4 (not in the households) week 3: beer 6
RetailData hand_shop() {
  RetailData d;
  d.households = {{"h1", "25-34"}, {"h2", "65+"}, {"h3", ""}};
  d.products = {{"p1", "GROCERY", "BEERS/ALES", "LAGER", "National", true},
                {"p2", "PRODUCE", "APPLES", "GALA", "Private", false},
                {"p3", "PRODUCE", "BANANAS", "", "", false},
                {"p4", "DRUG GM", "", "", "", false},
                // A second product of APPLES in another department, with a larger id:
                // the category keeps its smallest id's department.
                {"p5", "KIOSK", "APPLES", "", "", false}};
  int64_t n = 2;
  auto line = [&](const char* basket, const char* household, const char* product, double value, int week) {
    d.lines.push_back({n++, basket, household, "s1", product, 1, value, week, 1700000000000 + n});
  };
  line("b1", "h1", "p1", 10, 1), line("b1", "h1", "p2", 2, 1), line("b1", "h1", "p2", 3, 1);
  line("b2", "h1", "p3", 4, 3), line("b2", "h1", "p9", 1, 3);
  line("b3", "h2", "p4", 7, 2);
  line("b4", "h3", "p2", 1, 3);
  line("b5", "h4", "p1", 6, 3);
  return d;
}

template <class T, class Key>
std::vector<T> sorted(std::vector<T> v, Key key) {
  std::sort(v.begin(), v.end(), [&](const T& a, const T& b) { return key(a) < key(b); });
  return v;
}

std::vector<std::tuple<std::string, bool, std::string, int64_t>> items(const std::vector<RetailItemRow>& rows) {
  std::vector<std::tuple<std::string, bool, std::string, int64_t>> out;
  for (const auto& r : rows) out.emplace_back(r.band, r.held, r.name, r.baskets);
  std::sort(out.begin(), out.end());
  return out;
}

void expect_hand_counts(const RetailCounts& c) {
  EXPECT_EQ(c.last_week(), 3);
  using HH = std::vector<std::pair<std::string, int64_t>>;
  EXPECT_EQ(sorted(c.households(), [](const auto& x) { return x; }), (HH{{"", 1}, {"25-34", 1}, {"65+", 1}}));

  const auto cats = sorted(c.categories(), [](const RetailCategory& x) { return x.name; });
  ASSERT_EQ(cats.size(), 3u);
  EXPECT_EQ(cats[0].name, "APPLES");
  EXPECT_EQ(cats[0].department, "PRODUCE");
  EXPECT_FALSE(cats[0].restricted);
  EXPECT_EQ(cats[1].name, "BANANAS");
  EXPECT_EQ(cats[2].name, "BEERS/ALES");
  EXPECT_EQ(cats[2].department, "GROCERY");
  EXPECT_TRUE(cats[2].restricted);

  const auto bands = sorted(c.bands(3), [](const RetailBandRow& r) { return std::make_pair(r.band, r.held); });
  // band, held, baskets, categorised, lines, restricted / unknown lines, spend, restricted spend, and the
  // sums of spend^2, restricted^2 and spend x restricted over the baskets.
  const std::vector<RetailBandRow> want = {
      // b4 and b5: no band, both held (week 3); b5's beer is a restricted line.
      {"", true, 2, 2, 2, 1, 0, 7, 6, 1 + 36, 36, 36},
      // b1: before the held-out weeks.
      {"25-34", false, 1, 1, 3, 1, 0, 15, 10, 225, 100, 150},
      // b2: held, one unknown product.
      {"25-34", true, 1, 1, 2, 0, 1, 5, 0, 25, 0, 0},
      // b3: no category at all.
      {"65+", false, 1, 0, 1, 0, 0, 7, 0, 49, 0, 0},
  };
  ASSERT_EQ(bands.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const RetailBandRow &got = bands[i], &w = want[i];
    const std::string row = "row " + std::to_string(i) + " (" + w.band + ")";
    EXPECT_EQ(got.band, w.band) << row;
    EXPECT_EQ(got.held, w.held) << row;
    EXPECT_EQ(std::vector<int64_t>({got.baskets, got.categorised, got.lines, got.restricted_lines, got.unknown_lines}),
              std::vector<int64_t>({w.baskets, w.categorised, w.lines, w.restricted_lines, w.unknown_lines}))
        << row;
    EXPECT_EQ(std::vector<double>({got.spend, got.restricted_spend, got.spend_sq, got.restricted_sq, got.spend_restricted}),
              std::vector<double>({w.spend, w.restricted_spend, w.spend_sq, w.restricted_sq, w.spend_restricted}))
        << row;
  }

  using Items = std::vector<std::tuple<std::string, bool, std::string, int64_t>>;
  // Apples bought twice in b1 count one basket; the unbanded baskets count for none.
  EXPECT_EQ(items(c.category_baskets(3)),
            (Items{{"25-34", false, "APPLES", 1}, {"25-34", false, "BEERS/ALES", 1}, {"25-34", true, "BANANAS", 1}}));
  EXPECT_EQ(items(c.department_baskets(3)), (Items{{"25-34", false, "GROCERY", 1},
                                                   {"25-34", false, "PRODUCE", 1},
                                                   {"25-34", true, "PRODUCE", 1},
                                                   {"65+", false, "DRUG GM", 1}}));
  // A week past the last holds nothing back.
  for (const auto& r : c.bands(99)) EXPECT_FALSE(r.held);

  const auto products = sorted(c.product_baskets({"APPLES", "BEERS/ALES"}), [](const RetailProductRow& r) { return r.id; });
  ASSERT_EQ(products.size(), 2u);
  EXPECT_EQ(products[0].id, "p1");
  EXPECT_EQ(products[0].band, "25-34");
  EXPECT_EQ(products[0].baskets, 1);  // b5's beer has no band
  EXPECT_EQ(products[1].id, "p2");
  EXPECT_EQ(products[1].category, "APPLES");
  EXPECT_EQ(products[1].type, "GALA");
  EXPECT_EQ(products[1].brand, "Private");
  EXPECT_EQ(products[1].baskets, 1);
  EXPECT_TRUE(c.product_baskets({}).empty());

  // Held baskets with a band: only b2 (bananas).
  const auto hits = c.list_hits(3, 3, {{"APPLES", "BANANAS"}, {"BEERS/ALES"}, {}});
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].list, 0);
  EXPECT_EQ(hits[0].band, "25-34");
  EXPECT_EQ(hits[0].baskets, 1);
  EXPECT_TRUE(c.list_hits(2, 3, {{"APPLES"}}).empty());  // b1 is week 1
  EXPECT_EQ(c.list_hits(1, 3, {{"APPLES", "BEERS/ALES"}}).at(0).baskets, 1);  // b1 once, though it holds both
  EXPECT_TRUE(c.list_hits(2, 2, {{"APPLES", "BANANAS", "BEERS/ALES"}}).empty());  // week 2: b3 only, no category
}

TEST(RetailCountsInMemory, MatchTheCountsWorkedOutByHand) {
  const RetailData d = hand_shop();
  expect_hand_counts(*retail_counts_of(d));
}

class RetailCountsTest : public testing::BackendTest {};

TEST_P(RetailCountsTest, TheDatabaseGroupByMatchesTheCountsWorkedOutByHand) {
  auto s = Store::open(url_);
  s->replace_retail(hand_shop());
  expect_hand_counts(*s->retail_counts());
  // A category text with a quote is bound, never pasted into the query.
  EXPECT_TRUE(s->retail_counts()->product_baskets({"x' OR '1'='1"}).empty());
  EXPECT_TRUE(s->retail_counts()->list_hits(1, 53, {{"x' OR '1'='1"}}).empty());
}

TEST_P(RetailCountsTest, AnEmptyDatabaseCountsNothing) {
  auto s = Store::open(url_);
  auto c = s->retail_counts();
  EXPECT_EQ(c->last_week(), 0);
  EXPECT_TRUE(c->bands(1).empty());
  EXPECT_TRUE(c->category_baskets(1).empty());
  EXPECT_TRUE(c->categories().empty());
}

// A database of schema 3 that already holds retail lines gets its baskets
// summarised by the migration: nothing to import again.
TEST_P(RetailCountsTest, TheMigrationToSchemaFourSummarisesTheLinesAlreadyThere) {
  {
    auto s = Store::open(url_);
    s->replace_retail(hand_shop());
  }
  for (const char* sql : {"DROP TABLE retail_baskets", "DROP INDEX retail_lines_basket",
                          "DELETE FROM agegate_schema WHERE version >= 4"}) {
    exec(sql);
  }
  auto s = Store::open(url_);
  EXPECT_EQ(s->schema_version(), kStoreSchemaVersion);
  EXPECT_EQ(s->counts().retail_lines, 8);
  expect_hand_counts(*s->retail_counts());
}

INSTANTIATE_TEST_SUITE_P(Backends, RetailCountsTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace agegate
