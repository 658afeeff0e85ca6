// Reading and validating DIR/labels.csv against DIR/final_files/.
#include "agegate/data/labels.h"

#include <map>
#include <set>
#include <sstream>
#include <unordered_set>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/log.h"
#include "agegate/core/text.h"

namespace agegate {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFileColumn = "file_name";
constexpr const char* kAgeColumn = "real_age";
constexpr const char* kUtf8Bom = "\xEF\xBB\xBF";
// labels.csv is small text; anything bigger is not a labels file.
constexpr uint64_t kMaxLabelsBytes = uint64_t(512) << 20;
constexpr size_t kProblemsLogged = 5;
// Problem messages start with these, so the summary can count them by kind.
constexpr const char* kBadAgePrefix = "age '";
constexpr const char* kMissingPhotoPrefix = "photo not found";
constexpr const char* kDuplicatePrefix = "duplicate file name";
constexpr const char* kFieldCountPrefix = "has ";


bool parse_age(const std::string& text, int* age) {
  if (text.empty() || text.size() > 3) return false;
  int v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v < kMinAge || v > kMaxAge) return false;
  *age = v;
  return true;
}

std::string file_name_problem(const std::string& name) {
  if (name.empty()) return "empty file name";
  if (name.find('/') != std::string::npos || name.find('\\') != std::string::npos) {
    return "file name '" + name + "' contains a path separator";
  }
  if (name.find("..") != std::string::npos) return "file name '" + name + "' contains '..'";
  return "";
}

// Short kind of a problem message for the summary ("bad age", "missing photo").
std::string problem_kind(const std::string& message) {
  if (message.rfind(kBadAgePrefix, 0) == 0) return "bad age";
  if (message.rfind(kMissingPhotoPrefix, 0) == 0) return "missing photo";
  if (message.rfind(kDuplicatePrefix, 0) == 0) return "duplicate";
  if (message.rfind(kFieldCountPrefix, 0) == 0) return "wrong field count";
  return "bad file name";
}

}  // namespace

std::string LabelSet::summary() const {
  std::ostringstream out;
  out << rows_read << " rows read, " << rows.size() << " usable, " << problems.size() << " skipped";
  if (!problems.empty()) {
    std::map<std::string, int> kinds;
    for (const auto& p : problems) ++kinds[problem_kind(p.message)];
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
  if (!fs::is_regular_file(csv_path)) {
    throw InvalidInput(csv_path.string() + ": labels file not found (expected " + kLabelsFile +
                       " with columns file_name,real_age)");
  }
  if (!fs::is_directory(photo_dir)) {
    throw InvalidInput(photo_dir.string() + ": photo folder not found");
  }
  std::string text = read_file(csv_path, kMaxLabelsBytes);
  if (text.rfind(kUtf8Bom, 0) == 0) text.erase(0, std::char_traits<char>::length(kUtf8Bom));

  std::istringstream in(text);
  std::string line;
  int line_no = 0;
  std::vector<std::string> header;
  while (std::getline(in, line)) {
    ++line_no;
    if (!trim(line).empty()) {
      header = split_csv_line(line);
      break;
    }
  }
  if (header.empty()) throw InvalidInput(csv_path.string() + ": empty file (no header line)");
  int file_col = -1, age_col = -1;
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == kFileColumn) file_col = static_cast<int>(i);
    if (header[i] == kAgeColumn) age_col = static_cast<int>(i);
  }
  if (file_col < 0 || age_col < 0) {
    throw InvalidInput(csv_path.string() + ": header line " + std::to_string(line_no) +
                       " lacks column '" + (file_col < 0 ? kFileColumn : kAgeColumn) +
                       "' (needs file_name and real_age)");
  }

  LabelSet set;
  set.data_dir = data_dir;
  std::unordered_set<std::string> seen;
  auto problem = [&](int row, const std::string& file, const std::string& message) {
    if (options.strict) {
      throw InvalidInput(csv_path.string() + ": row " + std::to_string(row) +
                         (file.empty() ? "" : " (" + file + ")") + ": " + message);
    }
    set.problems.push_back({row, file, message});
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (trim(line).empty()) continue;
    ++set.rows_read;
    auto fields = split_csv_line(line);
    if (fields.size() != header.size()) {
      problem(line_no, fields.empty() ? "" : fields[std::min<size_t>(file_col, fields.size() - 1)],
              kFieldCountPrefix + std::to_string(fields.size()) + " fields, header has " +
                  std::to_string(header.size()));
      continue;
    }
    const std::string& name = fields[file_col];
    if (auto why = file_name_problem(name); !why.empty()) {
      problem(line_no, name, why);
      continue;
    }
    int age = 0;
    if (!parse_age(fields[age_col], &age)) {
      problem(line_no, name,
              kBadAgePrefix + fields[age_col] + "' is not an integer in " + std::to_string(kMinAge) +
                  ".." + std::to_string(kMaxAge));
      continue;
    }
    if (!seen.insert(name).second) {
      problem(line_no, name, std::string(kDuplicatePrefix) + " (first listed earlier)");
      continue;
    }
    fs::path path = photo_dir / name;
    if (options.check_files && !fs::is_regular_file(path)) {
      problem(line_no, name, std::string(kMissingPhotoPrefix) + " in " + kPhotoFolder + "/");
      continue;
    }
    set.rows.push_back({name, path, age, line_no});
  }
  if (set.rows_read == 0) throw InvalidInput(csv_path.string() + ": no data rows after the header");
  if (set.rows.empty()) {
    std::string first = set.problems.empty() ? "" : ": first problem at row " +
                                                        std::to_string(set.problems[0].row) + ": " +
                                                        set.problems[0].message;
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

}  // namespace agegate
