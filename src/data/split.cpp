// Age-stratified, seeded train/validation/test split and its CSV form.
#include "agegate/data/split.h"

#include <algorithm>
#include <map>
#include <random>
#include <limits>

#include "agegate/core/csv.h"
#include "agegate/core/error.h"
#include "agegate/core/fs.h"

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

// Row indices grouped into 5-year age bins, small bins merged upward in age
// order (a small last bin joins the one before), in row order within a bin.
std::vector<std::vector<size_t>> age_strata(const std::vector<LabelRow>& rows) {
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

  return strata;
}

// How many of a shuffled stratum of n go to the held-out test part.
size_t test_count(size_t n, double test_fraction) {
  auto n_test = static_cast<size_t>(std::llround(test_fraction * static_cast<double>(n)));
  if (n_test == 0 && test_fraction > 0 && n > 2) n_test = 1;
  return n_test;
}

}  // namespace

SplitPart parse_split_part(const std::string& name) {
  if (name == "train") return SplitPart::kTrain;
  if (name == "val") return SplitPart::kVal;
  if (name == "test") return SplitPart::kTest;
  throw InvalidInput("split part '" + name + "' is not train, val or test");
}

const char* to_string(SplitPart part) {
  switch (part) {
    case SplitPart::kTrain: return "train";
    case SplitPart::kVal: return "val";
    case SplitPart::kTest: return "test";
  }
  return "?";
}

const std::vector<LabelRow>& part_of(const Split& split, SplitPart part) {
  switch (part) {
    case SplitPart::kTrain: return split.train;
    case SplitPart::kVal: return split.val;
    case SplitPart::kTest: return split.test;
  }
  return split.train;
}

Split stratified_split(const std::vector<LabelRow>& rows, double val_fraction, double test_fraction,
                       uint64_t seed) {
  if (!(val_fraction > 0.0 && val_fraction < 1.0)) {
    throw InvalidInput("validation fraction " + std::to_string(val_fraction) + " is not in (0,1)");
  }
  if (!(test_fraction >= 0.0 && val_fraction + test_fraction < 1.0)) {
    throw InvalidInput("test fraction " + std::to_string(test_fraction) + " is not in [0," +
                       std::to_string(1.0 - val_fraction) + ") next to validation fraction " +
                       std::to_string(val_fraction));
  }
  std::vector<std::vector<size_t>> strata = age_strata(rows);
  std::mt19937_64 rng(seed);
  std::vector<SplitPart> part(rows.size(), SplitPart::kTrain);
  for (auto& stratum : strata) {
    seeded_shuffle(&stratum, &rng);
    const auto n = static_cast<double>(stratum.size());
    const size_t n_test = test_count(stratum.size(), test_fraction);
    auto n_val = static_cast<size_t>(std::llround(val_fraction * n));
    if (n_val == 0 && stratum.size() > 1) n_val = 1;
    for (size_t i = 0; i < stratum.size(); ++i) {
      if (i < n_test) part[stratum[i]] = SplitPart::kTest;
      else if (i < n_test + n_val) part[stratum[i]] = SplitPart::kVal;
    }
  }
  Split split;
  for (size_t i = 0; i < rows.size(); ++i) {
    (part[i] == SplitPart::kTrain ? split.train : part[i] == SplitPart::kVal ? split.val : split.test)
        .push_back(rows[i]);
  }
  return split;
}

Folds stratified_folds(const std::vector<LabelRow>& rows, int k, double test_fraction, uint64_t seed) {
  if (k < 2) throw InvalidInput("folds: " + std::to_string(k) + " is below 2");
  if (!(test_fraction >= 0.0 && test_fraction < 1.0)) {
    throw InvalidInput("test fraction " + std::to_string(test_fraction) + " is not in [0,1)");
  }
  std::vector<std::vector<size_t>> strata = age_strata(rows);
  std::mt19937_64 rng(seed);
  constexpr int kTest = -1;
  std::vector<int> fold(rows.size(), 0);
  size_t next = 0;  // round robin across strata, so the folds' sizes differ by at most one
  for (auto& stratum : strata) {
    seeded_shuffle(&stratum, &rng);
    const size_t n_test = test_count(stratum.size(), test_fraction);
    for (size_t i = 0; i < stratum.size(); ++i) {
      fold[stratum[i]] = i < n_test ? kTest : static_cast<int>(next++ % static_cast<size_t>(k));
    }
  }
  Folds f;
  f.folds.resize(static_cast<size_t>(k));
  for (size_t i = 0; i < rows.size(); ++i) {
    (fold[i] == kTest ? f.test : f.folds[static_cast<size_t>(fold[i])]).push_back(rows[i]);
  }
  for (int i = 0; i < k; ++i) {
    if (f.folds[static_cast<size_t>(i)].empty()) {
      throw InvalidInput("folds: " + std::to_string(rows.size()) + " photos leave fold " + std::to_string(i + 1) +
                         " of " + std::to_string(k) + " empty");
    }
  }
  return f;
}

Split Folds::split_for(int k) const {
  if (k < 0 || k >= static_cast<int>(folds.size())) throw InvalidInput("fold " + std::to_string(k) + " does not exist");
  Split s;
  for (size_t i = 0; i < folds.size(); ++i) {
    auto& to = static_cast<int>(i) == k ? s.val : s.train;
    to.insert(to.end(), folds[i].begin(), folds[i].end());
  }
  return s;  // no test part: the held-out photos stay out of every fold's run
}

namespace {
std::vector<LabelRow> concat(std::initializer_list<const std::vector<LabelRow>*> parts) {
  std::vector<LabelRow> out;
  for (const auto* p : parts) out.insert(out.end(), p->begin(), p->end());
  return out;
}
}  // namespace

std::vector<LabelRow> Split::all() const { return concat({&train, &val, &test}); }

std::vector<LabelRow> Folds::all() const {
  const std::vector<LabelRow> p = pool();
  return concat({&p, &test});
}

SplitNames split_names(const Split& split) {
  SplitNames out;
  for (SplitPart p : {SplitPart::kTrain, SplitPart::kVal, SplitPart::kTest}) {
    auto& names = out[to_string(p)];
    for (const auto& r : part_of(split, p)) names.push_back(r.file_name);
  }
  return out;
}

Split split_from_names(const SplitNames& names, const std::vector<LabelRow>& rows) {
  std::map<std::string, const LabelRow*> by_name;
  for (const auto& r : rows) by_name.emplace(r.file_name, &r);
  Split s;
  for (SplitPart p : {SplitPart::kTrain, SplitPart::kVal, SplitPart::kTest}) {
    auto& to = p == SplitPart::kTrain ? s.train : p == SplitPart::kVal ? s.val : s.test;
    auto part = names.find(to_string(p));
    if (part == names.end()) continue;
    for (const auto& name : part->second) {
      auto it = by_name.find(name);
      if (it != by_name.end()) to.push_back(*it->second);
    }
  }
  return s;
}

std::vector<LabelRow> Folds::pool() const {
  std::vector<LabelRow> out;
  for (const auto& f : folds) out.insert(out.end(), f.begin(), f.end());
  return out;
}

std::string split_csv_text(const Split& split) {
  CsvWriter csv(kSplitColumns, CsvWriter::Separators::kQuote, "split");
  for (const auto& r : split.train) csv.row({r.file_name, std::to_string(r.age), "train"});
  for (const auto& r : split.val) csv.row({r.file_name, std::to_string(r.age), "val"});
  for (const auto& r : split.test) csv.row({r.file_name, std::to_string(r.age), "test"});
  return csv.str();
}

void write_split_csv(const fs::path& path, const Split& split) { write_file_atomic(path, split_csv_text(split)); }

LabelRow split_file_row(const CsvRow& row, const fs::path& data_dir) {
  LabelRow r;
  r.file_name = row.text("file_name");
  if (r.file_name.empty() || r.file_name.find('/') != std::string::npos ||
      r.file_name.find("..") != std::string::npos) {
    throw InvalidInput(row.where() + ": bad file name '" + r.file_name + "'");
  }
  r.age = static_cast<int>(row.integer("real_age", kMinAge, kMaxAge));
  r.path = data_dir / kPhotoFolder / r.file_name;
  r.row = row.line();
  return r;
}

namespace {

Split split_of_csv(CsvReader csv, const std::string& source, const fs::path& data_dir) {
  Split split;
  while (auto row = csv.next()) {
    LabelRow r = split_file_row(*row, data_dir);
    const std::string& which = row->text("split");
    if (which == "train") {
      split.train.push_back(std::move(r));
    } else if (which == "val") {
      split.val.push_back(std::move(r));
    } else if (which == "test") {
      split.test.push_back(std::move(r));
    } else {
      throw InvalidInput(row->where() + ": split '" + which + "' is not train, val or test");
    }
  }
  if (split.train.empty() && split.val.empty() && split.test.empty()) throw InvalidInput(source + ": no rows");
  return split;
}

}  // namespace

Split read_split_csv(const fs::path& path, const fs::path& data_dir) {
  return split_of_csv(CsvReader::open(path, kSplitColumns), path.string(), data_dir);
}

Split parse_split_csv(std::string text, const std::string& source, const fs::path& data_dir) {
  return split_of_csv(CsvReader::parse(std::move(text), source, kSplitColumns), source, data_dir);
}

}  // namespace agegate
