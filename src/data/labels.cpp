// Reading and validating DIR/labels.csv against DIR/final_files/.
#include "agegate/data/labels.h"

#include <map>
#include <sstream>
#include <unordered_set>

#include "agegate/core/csv.h"
#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/log.h"

namespace agegate {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFileColumn = "file_name";
constexpr const char* kAgeColumn = "real_age";
// labels.csv is small text; anything bigger is not a labels file.
constexpr uint64_t kMaxLabelsBytes = uint64_t(512) << 20;
constexpr size_t kProblemsLogged = 5;

std::string file_name_problem(const std::string& name) {
  if (name.empty()) return "empty file name";
  if (name.find('/') != std::string::npos || name.find('\\') != std::string::npos) {
    return "file name '" + name + "' contains a path separator";
  }
  if (name.find("..") != std::string::npos) return "file name '" + name + "' contains '..'";
  return "";
}

}  // namespace

const char* to_string(LabelProblemKind kind) {
  switch (kind) {
    case LabelProblemKind::kFieldCount: return "wrong field count";
    case LabelProblemKind::kBadFileName: return "bad file name";
    case LabelProblemKind::kBadAge: return "bad age";
    case LabelProblemKind::kDuplicate: return "duplicate";
    case LabelProblemKind::kMissingPhoto: return "missing photo";
  }
  return "?";
}

std::string LabelSet::summary() const {
  std::ostringstream out;
  out << rows_read << " rows read, " << rows.size() << " usable, " << problems.size() << " skipped";
  if (!problems.empty()) {
    std::map<std::string, int> kinds;
    for (const auto& p : problems) ++kinds[to_string(p.kind)];
    out << " (";
    bool first = true;
    for (const auto& [kind, n] : kinds) {
      out << (first ? "" : ", ") << n << " " << kind;
      first = false;
    }
    out << ")";
  }
  return out.str();
}

LabelSet read_labels(const fs::path& data_dir, const LabelsOptions& options) {
  const fs::path csv_path = data_dir / kLabelsFile;
  const fs::path photo_dir = data_dir / kPhotoFolder;
  std::error_code ec;
  if (!fs::exists(data_dir, ec)) {
    throw IoError(data_dir.string() + ": data folder not found (the default is <shared>/data/faces, where <shared> is " +
                  "AGEGATE_SHARED_DIR or ../shared beside the checkout; or pass --data)");
  }
  if (!fs::is_regular_file(csv_path, ec)) {
    throw IoError(csv_path.string() + ": labels file not found (expected " + kLabelsFile +
                  " with columns file_name,real_age)");
  }
  if (!fs::is_directory(photo_dir, ec)) throw IoError(photo_dir.string() + ": photo folder not found");
  CsvOptions co;
  co.exact_field_count = false;  // a short row is a problem of that row, not of the file
  co.max_bytes = kMaxLabelsBytes;
  CsvReader csv = CsvReader::open(csv_path, {kFileColumn, kAgeColumn}, co);

  LabelSet set;
  set.data_dir = data_dir;
  std::unordered_set<std::string> seen;
  auto problem = [&](int row, const std::string& file, LabelProblemKind kind, const std::string& message) {
    if (options.strict) {
      throw InvalidInput(csv_path.string() + ": row " + std::to_string(row) + (file.empty() ? "" : " (" + file + ")") +
                         ": " + message);
    }
    set.problems.push_back({row, file, kind, message});
  };
  const size_t file_col = csv.column(kFileColumn);
  while (auto row = csv.next()) {
    ++set.rows_read;
    const int line = row->line();
    if (row->size() != csv.header().size()) {
      const auto& cells = row->cells();
      problem(line, cells[std::min(file_col, cells.size() - 1)], LabelProblemKind::kFieldCount,
              "has " + std::to_string(cells.size()) + " fields, header has " + std::to_string(csv.header().size()));
      continue;
    }
    const std::string& name = row->text(kFileColumn);
    if (auto why = file_name_problem(name); !why.empty()) {
      problem(line, name, LabelProblemKind::kBadFileName, why);
      continue;
    }
    auto age = row->try_integer(kAgeColumn);
    if (!age || *age < kMinAge || *age > kMaxAge) {
      problem(line, name, LabelProblemKind::kBadAge,
              "age '" + row->text(kAgeColumn) + "' is not an integer in " + std::to_string(kMinAge) + ".." +
                  std::to_string(kMaxAge));
      continue;
    }
    if (!seen.insert(name).second) {
      problem(line, name, LabelProblemKind::kDuplicate, "duplicate file name (first listed earlier)");
      continue;
    }
    fs::path path = photo_dir / name;
    if (options.check_files && !fs::is_regular_file(path, ec)) {
      problem(line, name, LabelProblemKind::kMissingPhoto, std::string("photo not found in ") + kPhotoFolder + "/");
      continue;
    }
    set.rows.push_back({name, path, static_cast<int>(*age), line});
  }
  if (set.rows_read == 0) throw InvalidInput(csv_path.string() + ": no data rows after the header");
  if (set.rows.empty()) {
    std::string first = set.problems.empty() ? ""
                                             : ": first problem at row " + std::to_string(set.problems[0].row) +
                                                   ": " + set.problems[0].message;
    throw InvalidInput(csv_path.string() + ": no usable rows (" + set.summary() + ")" + first);
  }
  if (!set.problems.empty()) {
    log().warn("{}: {}", csv_path.string(), set.summary());
    for (size_t i = 0; i < std::min(kProblemsLogged, set.problems.size()); ++i) {
      const auto& p = set.problems[i];
      log().warn("  row {} ({}): {}", p.row, p.file_name, p.message);
    }
  }
  return set;
}

std::string data_fingerprint(const std::vector<LabelRow>& rows) {
  uint64_t h = fnv1a64("");
  for (const auto& r : rows) h = fnv1a64(r.file_name + "," + std::to_string(r.age) + "\n", h);
  return hex64(h);
}

}  // namespace agegate
