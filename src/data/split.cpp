// Age-stratified, seeded train/validation split and its CSV form.
#include "agegate/data/split.h"

#include <algorithm>
#include <map>
#include <random>
#include <limits>

#include "agegate/core/csv.h"
#include "agegate/core/error.h"

namespace agegate {
namespace fs = std::filesystem;

namespace {

constexpr int kStratumYears = 5;
// Strata smaller than this are merged into a neighbour so each can give val rows.
constexpr size_t kMinStratumSize = 10;
const std::vector<std::string> kSplitColumns = {"file_name", "real_age", "split"};

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
  CsvWriter csv(kSplitColumns, CsvWriter::Separators::kQuote, path.string());
  for (const auto& r : split.train) csv.row({r.file_name, std::to_string(r.age), "train"});
  for (const auto& r : split.val) csv.row({r.file_name, std::to_string(r.age), "val"});
  csv.write(path);
}

Split read_split_csv(const fs::path& path, const fs::path& data_dir) {
  CsvReader csv = CsvReader::open(path, kSplitColumns);
  Split split;
  while (auto row = csv.next()) {
    LabelRow r;
    r.file_name = row->text("file_name");
    if (r.file_name.empty() || r.file_name.find('/') != std::string::npos ||
        r.file_name.find("..") != std::string::npos) {
      throw InvalidInput(row->where() + ": bad file name '" + r.file_name + "'");
    }
    r.age = static_cast<int>(row->integer("real_age", kMinAge, kMaxAge));
    r.path = data_dir / kPhotoFolder / r.file_name;
    r.row = row->line();
    const std::string& which = row->text("split");
    if (which == "train") {
      split.train.push_back(std::move(r));
    } else if (which == "val") {
      split.val.push_back(std::move(r));
    } else {
      throw InvalidInput(row->where() + ": split '" + which + "' is not train or val");
    }
  }
  if (split.train.empty() && split.val.empty()) throw InvalidInput(path.string() + ": no rows");
  return split;
}

}  // namespace agegate
