// The study's layout: DIR/labels.csv (file_name,real_age) + DIR/final_files/.
// Every row is validated; problems are collected with their row number.
// The file is read with core/csv.h (quoted fields, BOM and CRLF accepted).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "agegate/core/age_band.h"

namespace agegate {

inline constexpr const char* kLabelsFile = "labels.csv";
inline constexpr const char* kPhotoFolder = "final_files";
// Ages are kMinAge..kMaxAge (core/age_band.h).

struct LabelRow {
  std::string file_name;
  std::filesystem::path path;  // DIR/final_files/file_name
  int age = 0;
  int row = 0;  // 1-based line number in labels.csv (header is line 1)
};

enum class LabelProblemKind { kFieldCount, kBadFileName, kBadAge, kDuplicate, kMissingPhoto };
const char* to_string(LabelProblemKind kind);  // "wrong field count", "bad file name", ...

struct LabelProblem {
  int row = 0;  // 0 when the problem is not about one row
  std::string file_name;
  LabelProblemKind kind = LabelProblemKind::kBadAge;
  std::string message;  // e.g. "age 'abc' is not an integer in 0..120"
};

struct LabelsOptions {
  bool strict = false;       // first problem throws InvalidInput instead of skipping the row
  bool check_files = true;   // a row whose photo is missing is a problem
};

struct LabelSet {
  std::filesystem::path data_dir;
  std::vector<LabelRow> rows;         // usable rows, in file order
  std::vector<LabelProblem> problems; // skipped rows and why
  int rows_read = 0;                  // data rows in the file
  // "7591 rows read, 7589 usable, 2 skipped (1 missing photo, 1 bad age)"
  std::string summary() const;
};

// Throws IoError (missing or unreadable labels.csv or final_files/) and
// InvalidInput (missing header/columns, no usable rows, or any problem in
// strict mode).
// Duplicate file names: the second and later rows are problems.
LabelSet read_labels(const std::filesystem::path& data_dir, const LabelsOptions& options = {});

// Hash of (file name, age) in row order: the model file records it for the
// rows it was trained and measured on, so a consumer can tell the same data.
std::string data_fingerprint(const std::vector<LabelRow>& rows);

}  // namespace agegate
