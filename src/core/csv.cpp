// The CSV reader/writer (see csv.h): a small state machine over the text
// (a file is read in chunks; a record the chunk's end cuts is read again
// with more of the file), so quoted fields may span lines and line numbers
// stay exact.
#include "agegate/core/csv.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/text.h"

namespace agegate {
namespace {
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr size_t kChunk = size_t(4) << 20;        // bytes read from a file at a time
constexpr size_t kRefillBelow = size_t(1) << 20;  // read more when less is left

bool needs_quotes(const std::string& cell) { return cell.find_first_of(",\"\r\n") != std::string::npos; }

std::string quoted(const std::string& cell) {
  std::string out = "\"";
  for (char c : cell) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}
}  // namespace

std::optional<int64_t> parse_integer(std::string_view text) {
  int64_t v = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_number(std::string_view text) {
  double v = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string CsvRow::where() const { return reader_->source() + " line " + std::to_string(line_); }

const std::string& CsvRow::text(const std::string& column) const {
  const size_t i = reader_->column(column);
  if (i >= cells_.size()) {
    throw InvalidInput(where() + ": no value for column " + column + " (" + std::to_string(cells_.size()) +
                       " fields)");
  }
  return cells_[i];
}

std::optional<int64_t> CsvRow::try_integer(const std::string& column) const { return parse_integer(text(column)); }

int64_t CsvRow::integer(const std::string& column, int64_t min, int64_t max) const {
  const std::string& cell = text(column);
  auto v = parse_integer(cell);
  if (!v || *v < min || *v > max) {
    throw InvalidInput(where() + ": column " + column + " '" + cell + "' is not a whole number in " +
                       std::to_string(min) + ".." + std::to_string(max));
  }
  return *v;
}

double CsvRow::number(const std::string& column) const {
  const std::string& cell = text(column);
  auto v = parse_number(cell);
  if (!v) throw InvalidInput(where() + ": column " + column + " '" + cell + "' is not a number");
  return *v;
}

CsvReader CsvReader::open(const std::filesystem::path& path, const std::vector<std::string>& required,
                          CsvOptions options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw IoError(path.string() + ": file not found");
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (!ec && size > options.max_bytes) {
    throw IoError(path.string() + " is " + std::to_string(size) + " bytes, more than the " +
                  std::to_string(options.max_bytes) + " allowed");
  }
  CsvReader r;
  r.in_ = std::make_unique<std::ifstream>(path, std::ios::binary);
  if (!*r.in_) throw IoError("cannot open " + path.string() + ": " + std::strerror(errno));
  r.source_ = path.string();
  r.options_ = options;
  r.refill();
  r.start(required);
  return r;
}

CsvReader CsvReader::parse(std::string text, std::string source, const std::vector<std::string>& required,
                           CsvOptions options) {
  CsvReader r;
  r.text_ = std::move(text);
  r.source_ = std::move(source);
  r.options_ = options;
  r.start(required);
  return r;
}

void CsvReader::refill() {
  text_.erase(0, pos_);
  pos_ = 0;
  const size_t had = text_.size();
  text_.resize(had + kChunk);
  in_->read(text_.data() + had, static_cast<std::streamsize>(kChunk));
  const auto got = static_cast<size_t>(in_->gcount());
  text_.resize(had + got);
  if (in_->bad()) throw IoError("cannot read " + source_);
  if (got == 0 || in_->eof()) in_.reset();  // all of the file is in text_
}

void CsvReader::start(const std::vector<std::string>& required) {
  if (text_.compare(0, kUtf8Bom.size(), kUtf8Bom) == 0) pos_ = kUtf8Bom.size();
  std::vector<std::string> cells;
  int line = 0;
  while (read_record(&cells, &line)) {
    if (cells.size() == 1 && cells[0].empty()) continue;  // blank line before the header
    header_ = cells;
    header_line_ = line;
    break;
  }
  if (header_.empty()) throw InvalidInput(source_ + ": empty file (no header line)");
  for (size_t i = 0; i < header_.size(); ++i) columns_.emplace(header_[i], i);
  for (const auto& name : required) {
    if (!has_column(name)) {
      std::string want;
      for (const auto& n : required) want += (want.empty() ? "" : ",") + n;
      throw InvalidInput(source_ + " line " + std::to_string(header_line_) + ": header lacks column '" + name +
                         "' (needs " + want + ")");
    }
  }
}

size_t CsvReader::column(const std::string& name) const {
  auto it = columns_.find(name);
  if (it == columns_.end()) throw InternalError(source_ + ": column '" + name + "' was not required when opened");
  return it->second;
}

// Reads one record (which may span lines inside quotes) into `cells`.
// Returns false at the end of the text. While the file is still being read,
// a record the text's end cuts is read again once more of the file is in.
bool CsvReader::read_record(std::vector<std::string>* cells, int* start_line) {
  for (;;) {
    if (in_ && text_.size() - pos_ < kRefillBelow) refill();
    const size_t start = pos_;
    const int line = line_;
    bool open_quote = false;
    const Scan s = scan_record(cells, start_line, &open_quote);
    if (s == Scan::kCut && in_) {
      pos_ = start, line_ = line;
      refill();
      continue;
    }
    if (open_quote) throw InvalidInput(source_ + " line " + std::to_string(*start_line) + ": unterminated quoted field");
    return s != Scan::kNone;
  }
}

CsvReader::Scan CsvReader::scan_record(std::vector<std::string>* cells, int* start_line, bool* open_quote) {
  cells->clear();
  if (pos_ >= text_.size()) return Scan::kNone;
  *start_line = line_;
  std::string cell;
  bool quoted_cell = false, in_quotes = false, line_break = false;
  auto finish_cell = [&] {
    cells->push_back(quoted_cell ? cell : trim(cell));
    cell.clear();
    quoted_cell = false;
  };
  while (pos_ < text_.size()) {
    const char c = text_[pos_++];
    if (in_quotes) {
      if (c == '"' && pos_ < text_.size() && text_[pos_] == '"') {
        cell += '"';
        ++pos_;
      } else if (c == '"') {
        in_quotes = false;
      } else {
        if (c == '\n') ++line_;
        cell += c;
      }
    } else if (c == '"' && trim(cell).empty() && !quoted_cell) {
      in_quotes = quoted_cell = true;
      cell.clear();
    } else if (c == ',') {
      finish_cell();
    } else if (c == '\n') {
      ++line_;
      line_break = true;
      break;
    } else if (c != '\r' || (pos_ < text_.size() && text_[pos_] != '\n')) {
      if (!quoted_cell) cell += c;  // text after a closing quote is dropped
    }
  }
  *open_quote = in_quotes;
  finish_cell();
  // A quote, or a carriage return, at the very end may pair with what follows.
  return line_break ? Scan::kLine : Scan::kCut;
}

std::optional<CsvRow> CsvReader::next() {
  CsvRow row;
  row.reader_ = this;
  while (read_record(&row.cells_, &row.line_)) {
    if (row.cells_.size() == 1 && row.cells_[0].empty()) continue;
    if (options_.exact_field_count && row.cells_.size() != header_.size()) {
      throw InvalidInput(row.where() + ": " + std::to_string(row.cells_.size()) + " fields, expected " +
                         std::to_string(header_.size()));
    }
    return row;
  }
  return std::nullopt;
}

CsvWriter::CsvWriter(std::vector<std::string> header, Separators separators, std::string target)
    : header_(std::move(header)), separators_(separators), target_(std::move(target)) {
  append(header_, /*header=*/true);
}

void CsvWriter::row(const std::vector<std::string>& cells) {
  ++rows_;
  if (cells.size() != header_.size()) {
    throw InvalidInput(target_ + " row " + std::to_string(rows_) + ": " + std::to_string(cells.size()) +
                       " cells for " + std::to_string(header_.size()) + " columns");
  }
  append(cells, /*header=*/false);
}

void CsvWriter::append(const std::vector<std::string>& cells, bool header) {
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i) text_ += ',';
    if (!needs_quotes(cells[i])) {
      text_ += cells[i];
    } else if (separators_ == Separators::kQuote) {
      text_ += quoted(cells[i]);
    } else {
      throw InvalidInput(target_ + (header ? " header" : " row " + std::to_string(rows_)) + ", column " +
                         header_[i] + ": \"" + cells[i] + "\" contains a comma, quote or line break");
    }
  }
  text_ += '\n';
}

void CsvWriter::write(const std::filesystem::path& path) const { write_file_atomic(path, text_); }

}  // namespace agegate
