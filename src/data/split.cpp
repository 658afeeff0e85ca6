// Age-stratified, seeded train/validation split and its CSV form.
#include "agegate/data/split.h"

#include <algorithm>
#include <map>
#include <random>
#include <sstream>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"

namespace agegate {
namespace fs = std::filesystem;

namespace {

constexpr int kStratumYears = 5;
// Strata smaller than this are merged into a neighbour so each can give val rows.
constexpr size_t kMinStratumSize = 10;
constexpr const char* kSplitHeader = "file_name,real_age,split";

// Fisher-Yates with mt19937_64 and explicit modulo-free bounded draws:
// identical on every standard library (std::shuffle is not).
void seeded_shuffle(std::vector<size_t>* v, std::mt19937_64* rng) {
  for (size_t i = v->size(); i > 1; --i) {
    // Rejection sampling for an unbiased index in [0, i).
    const uint64_t bound = i;
    const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % bound;
    uint64_t r;
    do {
      r = (*rng)();
    } while (r >= limit);
    std::swap((*v)[i - 1], (*v)[r % bound]);
  }
}

}  // namespace

Split stratified_split(const std::vector<LabelRow>& rows, double val_fraction, uint64_t seed) {
  if (!(val_fraction > 0.0 && val_fraction < 1.0)) {
    throw InvalidInput("validation fraction " + std::to_string(val_fraction) + " is not in (0,1)");
  }
  std::map<int, std::vector<size_t>> bins;
  for (size_t i = 0; i < rows.size(); ++i) bins[rows[i].age / kStratumYears].push_back(i);

  // Merge small bins upward in age order; a small last bin joins the one before.
  std::vector<std::vector<size_t>> strata;
  std::vector<size_t> pending;
  for (auto& [bin, members] : bins) {
    pending.insert(pending.end(), members.begin(), members.end());
    if (pending.size() >= kMinStratumSize) {
      strata.push_back(std::move(pending));
      pending.clear();
    }
  }
  if (!pending.empty()) {
    if (strata.empty()) {
      strata.push_back(std::move(pending));
    } else {
      strata.back().insert(strata.back().end(), pending.begin(), pending.end());
    }
  }

  std::mt19937_64 rng(seed);
  std::vector<char> is_val(rows.size(), 0);
  for (auto& stratum : strata) {
    seeded_shuffle(&stratum, &rng);
    auto n_val = static_cast<size_t>(std::llround(val_fraction * static_cast<double>(stratum.size())));
    if (n_val == 0 && stratum.size() > 1) n_val = 1;
    for (size_t i = 0; i < n_val && i < stratum.size(); ++i) is_val[stratum[i]] = 1;
  }
  Split split;
  for (size_t i = 0; i < rows.size(); ++i) (is_val[i] ? split.val : split.train).push_back(rows[i]);
  return split;
}

void write_split_csv(const fs::path& path, const Split& split) {
  std::ostringstream out;
  out << kSplitHeader << "\n";
  for (const auto& r : split.train) out << r.file_name << "," << r.age << ",train\n";
  for (const auto& r : split.val) out << r.file_name << "," << r.age << ",val\n";
  write_file_atomic(path, out.str());
}

Split read_split_csv(const fs::path& path, const fs::path& data_dir) {
  if (!fs::is_regular_file(path)) throw InvalidInput(path.string() + ": split file not found");
  std::istringstream in(read_file(path));
  std::string line;
  int line_no = 1;
  if (!std::getline(in, line) || (!line.empty() && line.back() == '\r' ? line.substr(0, line.size() - 1) : line) != kSplitHeader) {
    throw InvalidInput(path.string() + ": header must be '" + kSplitHeader + "'");
  }
  Split split;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto bad = [&](const std::string& why) {
      return InvalidInput(path.string() + ": row " + std::to_string(line_no) + ": " + why);
    };
    auto c1 = line.find(',');
    auto c2 = c1 == std::string::npos ? c1 : line.find(',', c1 + 1);
    if (c2 == std::string::npos || line.find(',', c2 + 1) != std::string::npos) {
      throw bad("expected 3 fields: file_name,real_age,split");
    }
    LabelRow row;
    row.file_name = line.substr(0, c1);
    std::string age = line.substr(c1 + 1, c2 - c1 - 1);
    std::string which = line.substr(c2 + 1);
    if (row.file_name.empty() || row.file_name.find('/') != std::string::npos ||
        row.file_name.find("..") != std::string::npos) {
      throw bad("bad file name '" + row.file_name + "'");
    }
    bool digits = !age.empty() && age.size() <= 3 &&
                  std::all_of(age.begin(), age.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || std::stoi(age) > kMaxAge) throw bad("age '" + age + "' is not an integer in 0..120");
    row.age = std::stoi(age);
    row.path = data_dir / kPhotoFolder / row.file_name;
    row.row = line_no;
    if (which == "train") {
      split.train.push_back(std::move(row));
    } else if (which == "val") {
      split.val.push_back(std::move(row));
    } else {
      throw bad("split '" + which + "' is not train or val");
    }
  }
  if (split.train.empty() && split.val.empty()) throw InvalidInput(path.string() + ": no rows");
  return split;
}

}  // namespace agegate
