// The one CSV reader and writer behind every table agegate reads or writes:
// labels.csv, split.csv, the predictions CSV and a run's metrics.csv.
//
//   CsvReader csv = CsvReader::open(path, {"file_name", "real_age"});
//   while (auto row = csv.next()) {
//     const std::string& name = row->text("file_name");
//     int64_t age = row->integer("real_age", 0, 120);  // InvalidInput "labels.csv line 7: ..."
//   }
//
//   CsvWriter out({"file_name", "real_age"}, CsvWriter::Separators::kQuote);
//   out.row({"a.jpg", "17"});
//   out.write(path);  // atomic
//
// Dialect (RFC 4180 with leniencies for hand-edited files): comma separated;
// the first non-blank line is the header; a UTF-8 byte-order mark is skipped;
// LF or CRLF line ends; blank lines are skipped; a field may be double-quoted
// (then it may hold commas, quotes written as "" and line breaks); unquoted
// fields are trimmed of spaces and tabs.
//
// Numbers: integer() and number() accept the whole cell or nothing (no sign
// other than '-', no trailing text, no hex, no inf/nan), the same rules in
// every table; try_integer()/try_number() return nullopt instead of throwing.
//
// Errors: a missing or unreadable file is IoError; a missing header, a
// missing required column, a row with the wrong field count (unless the
// reader is told to pass such rows on) and a bad cell are InvalidInput whose
// message starts "<file> line <N>:" and names the column. Not thread-safe; a
// reader is owned by one thread.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace agegate {

std::optional<int64_t> parse_integer(std::string_view text);
std::optional<double> parse_number(std::string_view text);  // finite only

class CsvReader;

// One data row: its cells and the line it starts on (1-based, header included).
class CsvRow {
 public:
  int line() const { return line_; }
  size_t size() const { return cells_.size(); }
  const std::vector<std::string>& cells() const { return cells_; }
  // Cell of a column named in the header; InvalidInput when this row is too short.
  const std::string& text(const std::string& column) const;
  int64_t integer(const std::string& column, int64_t min, int64_t max) const;
  double number(const std::string& column) const;
  std::optional<int64_t> try_integer(const std::string& column) const;
  // "<file> line <N>": the prefix every message about this row starts with.
  std::string where() const;

 private:
  friend class CsvReader;
  const CsvReader* reader_ = nullptr;
  int line_ = 0;
  std::vector<std::string> cells_;
};

struct CsvOptions {
  // false: rows whose field count differs from the header are handed to the
  // caller (who reports them); true: they are an InvalidInput.
  bool exact_field_count = true;
  uint64_t max_bytes = uint64_t(1) << 30;  // a bigger file is not one of ours (a chain's purchase lines set more)
};

class CsvReader {
 public:
  // Reads `path` in chunks of a few MiB as rows are asked for (memory for a
  // chunk, not the file). IoError when missing, unreadable or larger than
  // options.max_bytes; InvalidInput for an empty file or a header that lacks
  // one of `required` columns.
  static CsvReader open(const std::filesystem::path& path, const std::vector<std::string>& required = {},
                        CsvOptions options = {});
  // The same over text in memory; `source` names it in messages.
  static CsvReader parse(std::string text, std::string source, const std::vector<std::string>& required = {},
                         CsvOptions options = {});

  // Next non-blank row, or nullopt at the end.
  std::optional<CsvRow> next();

  const std::vector<std::string>& header() const { return header_; }
  int header_line() const { return header_line_; }
  bool has_column(const std::string& name) const { return columns_.count(name) > 0; }
  size_t column(const std::string& name) const;  // InternalError for an unknown name
  const std::string& source() const { return source_; }

 private:
  enum class Scan { kNone, kLine, kCut };  // no text left; a record ended by a line break; one the text's end cut
  CsvReader() = default;
  void start(const std::vector<std::string>& required);
  void refill();
  bool read_record(std::vector<std::string>* cells, int* start_line);
  Scan scan_record(std::vector<std::string>* cells, int* start_line, bool* open_quote);

  std::unique_ptr<std::ifstream> in_;  // the file still being read; null once all of it is in text_
  std::string text_;
  std::string source_;
  CsvOptions options_;
  size_t pos_ = 0;
  int line_ = 1;
  int header_line_ = 0;
  std::vector<std::string> header_;
  std::unordered_map<std::string, size_t> columns_;
};

class CsvWriter {
 public:
  enum class Separators {
    kQuote,   // a cell with a comma, quote or line break is written quoted
    kReject,  // such a cell is an InvalidInput (for files other tools read naively)
  };
  CsvWriter(std::vector<std::string> header, Separators separators = Separators::kQuote,
            std::string target = "CSV");
  // InvalidInput when the cell count differs from the header's, or (kReject)
  // a cell holds a separator; the message names the target, row and column.
  void row(const std::vector<std::string>& cells);
  const std::string& str() const { return text_; }
  void write(const std::filesystem::path& path) const;  // atomic; IoError

 private:
  void append(const std::vector<std::string>& cells, bool header);
  std::vector<std::string> header_;
  Separators separators_;
  std::string target_;
  std::string text_;
  int rows_ = 0;
};

}  // namespace agegate
