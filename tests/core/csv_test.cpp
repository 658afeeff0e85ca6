// core/csv.h: the dialect, line numbers in errors, typed cells, the writer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agegate/core/csv.h"
#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "test_support.h"

namespace agegate {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Csv, ReadsTheDialectWithExactLineNumbers) {
  // BOM, CRLF, a blank line, spaces around unquoted cells, a quoted cell with a
  // comma, an escaped quote and a line break.
  std::string text = "\xEF\xBB\xBF" "name , age\r\n\r\n a.jpg , 7\r\n\"b,\"\"x\"\"\ny.jpg\",8\nc.jpg,9";
  CsvReader csv = CsvReader::parse(text, "t.csv", {"name", "age"});
  EXPECT_EQ(csv.header_line(), 1);
  auto r1 = csv.next();
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->line(), 3);
  EXPECT_EQ(r1->text("name"), "a.jpg");
  EXPECT_EQ(r1->integer("age", 0, 120), 7);
  auto r2 = csv.next();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->line(), 4);
  EXPECT_EQ(r2->text("name"), "b,\"x\"\ny.jpg");
  auto r3 = csv.next();
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->line(), 6);  // the quoted line break counted
  EXPECT_EQ(r3->text("age"), "9");
  EXPECT_FALSE(csv.next());
}

TEST(Csv, ErrorsNameTheFileLineAndColumn) {
  auto header_error = error_of([] { CsvReader::parse("file,age\n", "labels.csv", {"file_name", "real_age"}); });
  EXPECT_NE(header_error.find("labels.csv line 1"), std::string::npos) << header_error;
  EXPECT_NE(header_error.find("file_name"), std::string::npos) << header_error;
  EXPECT_NE(error_of([] { CsvReader::parse("", "e.csv"); }).find("empty"), std::string::npos);

  CsvReader csv = CsvReader::parse("a,b\n1,2\n3\n", "m.csv", {"a", "b"});
  csv.next();
  auto short_row = error_of([&] { csv.next(); });
  EXPECT_NE(short_row.find("m.csv line 3"), std::string::npos) << short_row;

  CsvReader bad = CsvReader::parse("a,b\n1,x\n", "n.csv", {"a", "b"});
  auto row = bad.next();
  auto number = error_of([&] { row->number("b"); });
  EXPECT_NE(number.find("n.csv line 2"), std::string::npos) << number;
  EXPECT_NE(number.find("column b"), std::string::npos) << number;
  EXPECT_THROW(row->integer("a", 5, 9), InvalidInput);  // out of range
  EXPECT_THROW(CsvReader::parse("a\n\"open\n", "q.csv").next(), InvalidInput);
  EXPECT_THROW(CsvReader::open(testing::scratch_dir("csv-missing") / "none.csv"), IoError);
}

TEST(Csv, LenientReaderHandsShortRowsToTheCaller) {
  CsvOptions o;
  o.exact_field_count = false;
  CsvReader csv = CsvReader::parse("a,b\n1\n", "s.csv", {"a", "b"}, o);
  auto row = csv.next();
  ASSERT_TRUE(row);
  EXPECT_EQ(row->size(), 1u);
  EXPECT_THROW(row->text("b"), InvalidInput);
}

TEST(Csv, OneNumberGrammarEverywhere) {
  EXPECT_EQ(parse_integer("17"), 17);
  EXPECT_EQ(parse_integer("-3"), -3);
  for (const char* bad : {"", "1.5", "0x10", "1e3", "+5", "12a", "\\1", " 1"}) {
    EXPECT_FALSE(parse_integer(bad)) << bad;
  }
  EXPECT_DOUBLE_EQ(*parse_number("2.5e-3"), 0.0025);
  EXPECT_DOUBLE_EQ(*parse_number("-7"), -7.0);
  for (const char* bad : {"", "nan", "inf", "1.2.3", "\\2", "2x", "1e999"}) {
    EXPECT_FALSE(parse_number(bad)) << bad;
  }
}

TEST(Csv, WriterQuotesOrRejectsAndReadsBack) {
  CsvWriter w({"name", "note"});
  w.row({"a.jpg", "plain"});
  w.row({"b,c.jpg", "say \"hi\"\nbye"});
  EXPECT_THROW(w.row({"only one"}), InvalidInput);
  CsvReader back = CsvReader::parse(w.str(), "w.csv", {"name", "note"});
  EXPECT_EQ(back.next()->text("note"), "plain");
  auto second = back.next();
  EXPECT_EQ(second->text("name"), "b,c.jpg");
  EXPECT_EQ(second->text("note"), "say \"hi\"\nbye");

  CsvWriter strict({"name"}, CsvWriter::Separators::kReject, "predictions CSV");
  auto why = error_of([&] { strict.row({"x,y.jpg"}); });
  EXPECT_NE(why.find("column name"), std::string::npos) << why;
}

}  // namespace
}  // namespace agegate

namespace agegate {
namespace {

// A file read in chunks gives the rows and line numbers of the same text
// read whole, with records cut by every chunk boundary: quoted fields with
// line breaks and doubled quotes, fields larger than a chunk, CRLF line ends, blank lines, a last line
// without its line break. And a file over max_bytes is refused by its size.
TEST(Csv, AFileReadInChunksReadsAsTheWholeText) {
  std::string text = "\xEF\xBB\xBFid,note,value\r\n";
  for (int i = 0; i < 240000; ++i) {
    text += std::to_string(i) + ",";
    switch (i % 5) {
      case 0: text += "\"two\nlines, and \"\"quotes\"\"\""; break;
      case 1: text += "  plain  "; break;
      case 2: text += "\"" + std::string(size_t(i % 97), 'x') + "\r\nmore\""; break;
      case 3: text += i % 60000 == 3 ? "\"" + std::string(size_t(3) << 20, 'y') + "\nz\"" : ""; break;  // 3 MiB fields
      default: text += "tail"; break;
    }
    text += "," + std::to_string(i * 0.25) + (i % 7 ? "\r\n" : "\n");
    if (i % 1000 == 0) text += "\n";
  }
  text += "last,row,1";  // no line break at the end
  ASSERT_GT(text.size(), size_t(9) << 20);  // more than two chunks
  const auto dir = testing::scratch_dir("csv_chunks");
  write_file_atomic(dir / "big.csv", text);
  CsvReader whole = CsvReader::parse(text, (dir / "big.csv").string(), {"id", "note", "value"});
  CsvReader chunks = CsvReader::open(dir / "big.csv", {"id", "note", "value"});
  EXPECT_EQ(chunks.header(), whole.header());
  int64_t rows = 0;
  for (;;) {
    auto a = whole.next();
    auto b = chunks.next();
    ASSERT_EQ(a.has_value(), b.has_value()) << "row " << rows;
    if (!a) break;
    ASSERT_EQ(a->cells(), b->cells()) << a->where();
    ASSERT_EQ(a->line(), b->line());
    ++rows;
  }
  EXPECT_EQ(rows, 240001);
  CsvOptions small;
  small.max_bytes = 1 << 20;
  EXPECT_THROW(CsvReader::open(dir / "big.csv", {}, small), IoError);
}

}  // namespace
}  // namespace agegate
