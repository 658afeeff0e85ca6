// Cross-fitting's fold assignment (data/split.h stratified_folds) and its
// folds.csv (train/cross_fit.h).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "agegate/core/error.h"
#include "agegate/data/split.h"
#include "agegate/train/cross_fit.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;

// Like the real data: mostly young adults, some children and teenagers, a thin old tail.
std::vector<LabelRow> pool_rows(int n) {
  std::vector<LabelRow> rows;
  for (int i = 0; i < n; ++i) {
    const int age = i % 10 < 2 ? 1 + (i * 3) % 17 : i % 10 < 8 ? 18 + (i * 7) % 30 : 50 + (i * 13) % 50;
    rows.push_back({"p" + std::to_string(i) + ".jpg", "p" + std::to_string(i) + ".jpg", age, i + 2});
  }
  return rows;
}

std::vector<std::string> names(const std::vector<LabelRow>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.file_name);
  return out;
}

TEST(Folds, EveryPoolPhotoIsInExactlyOneFoldAndNoneOfTheHeldOutPart) {
  const auto rows = pool_rows(1000);
  const Folds f = stratified_folds(rows, 5, 0.15, 42);
  ASSERT_EQ(f.folds.size(), 5u);
  std::map<std::string, int> where;  // name -> fold (or -1 for held out)
  for (size_t k = 0; k < f.folds.size(); ++k) {
    for (const auto& r : f.folds[k]) EXPECT_TRUE(where.emplace(r.file_name, int(k)).second) << r.file_name;
  }
  for (const auto& r : f.test) EXPECT_TRUE(where.emplace(r.file_name, -1).second) << r.file_name << " held out and in a fold";
  EXPECT_EQ(where.size(), rows.size());  // nothing lost
  // Fold sizes differ by at most one photo.
  size_t lo = rows.size(), hi = 0;
  for (const auto& fold : f.folds) lo = std::min(lo, fold.size()), hi = std::max(hi, fold.size());
  EXPECT_LE(hi - lo, 1u);
  // Fold k's run validates on fold k and trains on the rest; no test part.
  for (int k = 0; k < 5; ++k) {
    const Split s = f.split_for(k);
    EXPECT_EQ(names(s.val), names(f.folds[size_t(k)]));
    EXPECT_EQ(s.train.size() + s.val.size(), f.pool().size());
    EXPECT_TRUE(s.test.empty());
    for (const auto& r : s.train) EXPECT_NE(where[r.file_name], k);
  }
  EXPECT_THROW(f.split_for(5), InvalidInput);
}

TEST(Folds, TheHeldOutPartIsTheOneASingleRunWithTheSameSeedHoldsOut) {
  const auto rows = pool_rows(1000);
  const Folds f = stratified_folds(rows, 5, 0.15, 42);
  const Split single = stratified_split(rows, 0.15, 0.15, 42);
  EXPECT_EQ(names(f.test), names(single.test));
  EXPECT_NEAR(double(f.test.size()) / rows.size(), 0.15, 0.02);
  EXPECT_TRUE(stratified_folds(rows, 3, 0.0, 42).test.empty());
}

TEST(Folds, StratifiedByAge) {
  const auto rows = pool_rows(2000);
  const Folds f = stratified_folds(rows, 5, 0.15, 7);
  // Each 5-year band of the pool spreads evenly: every fold holds its share within 2 photos.
  std::map<int, int> pool_band;
  for (const auto& r : f.pool()) ++pool_band[r.age / 5];
  for (const auto& fold : f.folds) {
    std::map<int, int> band;
    for (const auto& r : fold) ++band[r.age / 5];
    for (const auto& [b, total] : pool_band) {
      if (total < 25) continue;
      EXPECT_NEAR(band[b], total / 5.0, 2.0) << "ages " << b * 5 << "-" << b * 5 + 4;
    }
  }
  // The 13-17-year-olds in particular: every fold has about a fifth.
  int teens = 0;
  for (const auto& r : f.pool()) teens += r.age >= 13 && r.age <= 17;
  for (const auto& fold : f.folds) {
    int t = 0;
    for (const auto& r : fold) t += r.age >= 13 && r.age <= 17;
    EXPECT_NEAR(t, teens / 5.0, 0.3 * teens / 5.0);  // the age bins are stratified; ages within them are not
  }
}

TEST(Folds, DeterministicBySeed) {
  const auto rows = pool_rows(500);
  const Folds a = stratified_folds(rows, 4, 0.15, 42), again = stratified_folds(rows, 4, 0.15, 42),
              other = stratified_folds(rows, 4, 0.15, 43);
  for (size_t k = 0; k < 4; ++k) EXPECT_EQ(names(a.folds[k]), names(again.folds[k]));
  EXPECT_NE(names(a.folds[0]), names(other.folds[0]));
}

TEST(Folds, RefusesTooFewFoldsOrPhotos) {
  EXPECT_THROW(stratified_folds(pool_rows(100), 1, 0.15, 1), InvalidInput);
  EXPECT_THROW(stratified_folds(pool_rows(100), 3, 1.0, 1), InvalidInput);
  try {
    stratified_folds(pool_rows(3), 5, 0.0, 1);
    ADD_FAILURE() << "five folds of three photos";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
  }
}

TEST(Folds, CsvRoundTripAndErrorsNameTheLine) {
  const fs::path dir = testing::scratch_dir("folds_csv");
  const Folds f = stratified_folds(pool_rows(200), 3, 0.15, 5);
  write_folds_csv(dir / "folds.csv", f);
  const Folds back = read_folds_csv(dir / "folds.csv", "/data", 3);
  ASSERT_EQ(back.folds.size(), 3u);
  for (size_t k = 0; k < 3; ++k) EXPECT_EQ(names(back.folds[k]), names(f.folds[k]));
  EXPECT_EQ(names(back.test), names(f.test));
  EXPECT_EQ(back.folds[1][0].path, fs::path("/data") / kPhotoFolder / f.folds[1][0].file_name);

  auto expect_refused = [&](const std::string& name, const std::string& text, const std::string& fragment) {
    std::ofstream(dir / name) << text;
    try {
      read_folds_csv(dir / name, dir, 3);
      ADD_FAILURE() << name << " accepted";
    } catch (const InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_refused("bad.csv", "file_name,real_age,fold\na.jpg,20,1\nb.jpg,20,4\nc.jpg,30,2\nd.jpg,9,3\n", "line 3");
  expect_refused("gap.csv", "file_name,real_age,fold\na.jpg,20,1\nb.jpg,20,1\nc.jpg,30,3\n", "fold 2 of 3");
  expect_refused("path.csv", "file_name,real_age,fold\n../a.jpg,20,1\n", "bad file name");
}

}  // namespace
}  // namespace agegate
