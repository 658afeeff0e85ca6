// labels.csv validation and the stratified split.
#include <gtest/gtest.h>

#include <typeinfo>

#include <fstream>
#include <map>
#include <set>

#include "agegate/core/error.h"
#include "agegate/data/labels.h"
#include "agegate/data/split.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;
using testing::make_mini_dataset;
using testing::scratch_dir;

// The names of the photos in a mini dataset, in labels order.
std::vector<std::string> photo_names(const fs::path& dir) {
  std::vector<std::string> names;
  std::ifstream in(dir / kLabelsFile);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) names.push_back(line.substr(0, line.find(',')));
  return names;
}

void write_csv(const fs::path& dir, const std::string& text) {
  std::ofstream(dir / kLabelsFile, std::ios::binary) << text;
}

std::string problems_text(const LabelSet& s) {
  std::string out;
  for (const auto& p : s.problems) out += std::to_string(p.row) + " " + p.file_name + ": " + p.message + "\n";
  return out;
}

TEST(Labels, ReadsMiniDataset) {
  auto dir = make_mini_dataset("ok", 12);
  LabelSet set = read_labels(dir);
  EXPECT_EQ(set.rows_read, 12);
  ASSERT_EQ(set.rows.size(), 12u);
  EXPECT_TRUE(set.problems.empty());
  EXPECT_EQ(set.rows[0].row, 2);
  EXPECT_TRUE(fs::exists(set.rows[0].path));
  EXPECT_EQ(set.summary(), "12 rows read, 12 usable, 0 skipped");
}

TEST(Labels, ToleratesBomCrlfBlankLinesExtraColumnsAnyOrder) {
  auto dir = make_mini_dataset("fmt", 3);
  auto n = photo_names(dir);
  write_csv(dir, "\xEF\xBB\xBFreal_age,note,file_name\r\n30,a," + n[0] + "\r\n\r\n41,b," + n[1] +
                     "\r\n7,c," + n[2] + "\r\n\r\n");
  LabelSet set = read_labels(dir);
  ASSERT_EQ(set.rows.size(), 3u) << problems_text(set);
  EXPECT_EQ(set.rows[0].age, 30);
  EXPECT_EQ(set.rows[0].file_name, n[0]);
  EXPECT_EQ(set.rows[1].row, 4);  // the blank line 3 still counts
  EXPECT_EQ(set.rows[2].age, 7);
}

TEST(Labels, BadRowsAreSkippedWithRowNumbers) {
  auto dir = make_mini_dataset("bad", 4);
  auto n = photo_names(dir);
  write_csv(dir, "file_name,real_age\n" +
                     n[0] + ",25\n" +        // 2 ok
                     n[1] + ",abc\n" +       // 3 text age
                     n[2] + ",-1\n" +        // 4 negative
                     n[3] + ",121\n" +       // 5 too old
                     n[1] + ",3.5\n" +       // 6 not an integer
                     "nothere.jpg,30\n" +    // 7 missing photo
                     n[0] + ",26\n" +        // 8 duplicate
                     n[2] + "\n" +           // 9 wrong field count
                     ",40\n" +               // 10 empty name
                     "../" + n[3] + ",40\n" +// 11 path separator
                     n[3] + ",120\n");       // 12 ok (the upper bound)
  LabelSet set = read_labels(dir);
  ASSERT_EQ(set.rows.size(), 2u) << problems_text(set);
  EXPECT_EQ(set.rows[1].age, 120);
  ASSERT_EQ(set.problems.size(), 9u) << problems_text(set);
  std::map<int, LabelProblem> by_row;
  for (auto& p : set.problems) by_row[p.row] = p;
  for (int r = 3; r <= 11; ++r) EXPECT_TRUE(by_row.count(r)) << "row " << r << "\n" << problems_text(set);
  EXPECT_NE(by_row[3].message.find("abc"), std::string::npos);
  EXPECT_EQ(by_row[7].file_name, "nothere.jpg");
  EXPECT_NE(by_row[7].message.find("not found"), std::string::npos);
  EXPECT_NE(by_row[8].message.find("duplicate"), std::string::npos);
  EXPECT_EQ(set.rows_read, 11);
  EXPECT_NE(set.summary().find("9 skipped"), std::string::npos) << set.summary();
  EXPECT_NE(set.summary().find("4 bad age"), std::string::npos) << set.summary();

  LabelsOptions no_check;
  no_check.check_files = false;
  EXPECT_EQ(read_labels(dir, no_check).rows.size(), 3u);
}

TEST(Labels, StrictModeThrowsNamingRowAndFile) {
  auto dir = make_mini_dataset("strict", 3);
  auto n = photo_names(dir);
  write_csv(dir, "file_name,real_age\n" + n[0] + ",20\n" + n[1] + ",old\n" + n[2] + ",30\n");
  LabelsOptions strict;
  strict.strict = true;
  try {
    read_labels(dir, strict);
    FAIL() << "strict mode accepted a bad age";
  } catch (const InvalidInput& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("row 3"), std::string::npos) << msg;
    EXPECT_NE(msg.find(n[1]), std::string::npos) << msg;
  }
}

template <typename E = InvalidInput, typename F>
void expect_invalid_mentioning(F&& f, const std::string& text) {
  try {
    f();
    FAIL() << "expected " << typeid(E).name() << " mentioning " << text;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

TEST(Labels, UnusableFoldersAndFilesThrow) {
  auto empty = scratch_dir("empty");
  // A missing file or folder is an IoError, as everywhere else.
  expect_invalid_mentioning<IoError>([&] { read_labels(empty); }, "labels.csv");
  write_csv(empty, "file_name,real_age\n");
  expect_invalid_mentioning<IoError>([&] { read_labels(empty); }, "final_files");
  fs::create_directories(empty / kPhotoFolder);
  expect_invalid_mentioning([&] { read_labels(empty); }, "no data rows");
  write_csv(empty, "");
  expect_invalid_mentioning([&] { read_labels(empty); }, "empty");

  auto dir = make_mini_dataset("cols", 2);
  auto n = photo_names(dir);
  write_csv(dir, "file_name,age\n" + n[0] + ",20\n");
  expect_invalid_mentioning([&] { read_labels(dir); }, "real_age");
  write_csv(dir, "name,real_age\n" + n[0] + ",20\n");
  expect_invalid_mentioning([&] { read_labels(dir); }, "file_name");
  write_csv(dir, "file_name,real_age\nmissing1.jpg,20\nmissing2.jpg,30\n");
  expect_invalid_mentioning([&] { read_labels(dir); }, "no usable rows");
}

std::vector<LabelRow> synthetic_rows(int n) {
  std::vector<LabelRow> rows;
  for (int i = 0; i < n; ++i) {
    // Mostly young adults, a thin tail of old ages, like the real data.
    int age = i % 10 < 8 ? 15 + (i * 7) % 30 : 50 + (i * 13) % 50;
    rows.push_back({"p" + std::to_string(i) + ".jpg", "p" + std::to_string(i) + ".jpg", age, i + 2});
  }
  return rows;
}

TEST(Split, StratifiedDisjointCoveringAndSeeded) {
  auto rows = synthetic_rows(1000);
  Split a = stratified_split(rows, 0.2, 0.0, 42);
  EXPECT_EQ(a.train.size() + a.val.size(), rows.size());
  std::set<std::string> train, val;
  for (auto& r : a.train) train.insert(r.file_name);
  for (auto& r : a.val) val.insert(r.file_name);
  EXPECT_EQ(train.size() + val.size(), rows.size());  // disjoint and complete
  EXPECT_NEAR(double(a.val.size()) / rows.size(), 0.2, 0.02);

  // Each 10-year band keeps roughly the same val share.
  std::map<int, std::pair<int, int>> bands;  // band -> (val, total)
  for (auto& r : a.val) ++bands[r.age / 10].first;
  for (auto& r : rows) ++bands[r.age / 10].second;
  for (auto& [band, vt] : bands) {
    if (vt.second < 40) continue;
    EXPECT_NEAR(double(vt.first) / vt.second, 0.2, 0.06) << "band " << band * 10;
  }

  Split again = stratified_split(rows, 0.2, 0.0, 42);
  Split other = stratified_split(rows, 0.2, 0.0, 43);
  std::vector<std::string> va, vagain, vother;
  for (auto& r : a.val) va.push_back(r.file_name);
  for (auto& r : again.val) vagain.push_back(r.file_name);
  for (auto& r : other.val) vother.push_back(r.file_name);
  EXPECT_EQ(va, vagain);
  EXPECT_NE(va, vother);
}

// The held-out test part: disjoint from train and val, the asked share of
// every age band, seeded, and empty when not asked for.
TEST(Split, HeldOutTestPartIsStratifiedAndDisjoint) {
  auto rows = synthetic_rows(1000);
  Split s = stratified_split(rows, 0.15, 0.15, 42);
  EXPECT_EQ(s.train.size() + s.val.size() + s.test.size(), rows.size());
  std::set<std::string> seen;
  for (const auto* part : {&s.train, &s.val, &s.test}) {
    for (auto& r : *part) EXPECT_TRUE(seen.insert(r.file_name).second) << r.file_name << " in two parts";
  }
  EXPECT_NEAR(double(s.test.size()) / rows.size(), 0.15, 0.02);
  EXPECT_NEAR(double(s.val.size()) / rows.size(), 0.15, 0.02);
  std::map<int, std::pair<int, int>> bands;  // band -> (test, total)
  for (auto& r : s.test) ++bands[r.age / 10].first;
  for (auto& r : rows) ++bands[r.age / 10].second;
  for (auto& [band, tt] : bands) {
    if (tt.second < 40) continue;
    EXPECT_NEAR(double(tt.first) / tt.second, 0.15, 0.06) << "band " << band * 10;
  }
  Split again = stratified_split(rows, 0.15, 0.15, 42);
  ASSERT_EQ(again.test.size(), s.test.size());
  for (size_t i = 0; i < s.test.size(); ++i) EXPECT_EQ(again.test[i].file_name, s.test[i].file_name);
  EXPECT_TRUE(stratified_split(rows, 0.2, 0.0, 42).test.empty());
  EXPECT_THROW(stratified_split(rows, 0.5, 0.5, 1), InvalidInput);
  EXPECT_THROW(stratified_split(rows, 0.2, -0.1, 1), InvalidInput);
  EXPECT_EQ(to_string(parse_split_part("test")), std::string("test"));
  EXPECT_EQ(&part_of(s, SplitPart::kVal), &s.val);
  EXPECT_THROW(parse_split_part("holdout"), InvalidInput);
}

TEST(Split, SparseOldAgesStillReachValidation) {
  auto rows = synthetic_rows(300);
  for (int i = 0; i < 6; ++i) rows.push_back({"old" + std::to_string(i), "", 95 + i % 3, 0});
  Split s = stratified_split(rows, 0.2, 0.0, 1);
  int old_val = 0;
  for (auto& r : s.val) old_val += r.age >= 90;
  EXPECT_GE(old_val, 1);
  EXPECT_THROW(stratified_split(rows, 0.0, 0.0, 1), InvalidInput);
  EXPECT_THROW(stratified_split(rows, 1.0, 0.0, 1), InvalidInput);
}

TEST(Split, CsvRoundTripAndErrors) {
  auto dir = scratch_dir("csv");
  Split s = stratified_split(synthetic_rows(50), 0.3, 0.2, 7);
  write_split_csv(dir / "split.csv", s);
  Split back = read_split_csv(dir / "split.csv", "/data");
  ASSERT_EQ(back.train.size(), s.train.size());
  ASSERT_EQ(back.val.size(), s.val.size());
  ASSERT_EQ(back.test.size(), s.test.size());
  ASSERT_FALSE(back.test.empty());
  EXPECT_EQ(back.test[0].file_name, s.test[0].file_name);
  EXPECT_EQ(back.val[0].file_name, s.val[0].file_name);
  EXPECT_EQ(back.val[0].age, s.val[0].age);
  EXPECT_EQ(back.val[0].path, fs::path("/data") / kPhotoFolder / s.val[0].file_name);

  std::ofstream(dir / "bad.csv") << "file_name,real_age,split\na.jpg,20,train\nb.jpg,20,holdout\n";
  // core/csv.h names the line (the file's line number, header = line 1).
  expect_invalid_mentioning([&] { read_split_csv(dir / "bad.csv", dir); }, "line 3");
  std::ofstream(dir / "bad2.csv") << "file_name,real_age,split\na.jpg,x,train\n";
  expect_invalid_mentioning([&] { read_split_csv(dir / "bad2.csv", dir); }, "line 2");
  std::ofstream(dir / "bad3.csv") << "file,age\n";
  expect_invalid_mentioning([&] { read_split_csv(dir / "bad3.csv", dir); }, "header");
  expect_invalid_mentioning<IoError>([&] { read_split_csv(dir / "none.csv", dir); }, "none.csv");
}

}  // namespace
}  // namespace agegate
