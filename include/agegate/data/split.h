// Seeded, age-stratified train/validation/test split, saved in the run folder.
// Validation photos choose the best epoch and fit the temperature; the test
// part is touched by nothing until the final model is measured on it, so its
// figures are the honest ones.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "agegate/data/labels.h"

namespace agegate {

// The trainer's split when its options say nothing else (train/trainer.h,
// and the training record of a model file that does not state them).
inline constexpr double kDefaultValFraction = 0.15;
inline constexpr double kDefaultTestFraction = 0.15;
inline constexpr uint64_t kDefaultSplitSeed = 42;

struct Split {
  std::vector<LabelRow> train;
  std::vector<LabelRow> val;
  std::vector<LabelRow> test;  // held out: never used for any choice
  std::vector<LabelRow> all() const;  // train, val, test in that order (data_fingerprint's sequence)
};

// Which part of a split: "train", "val" or "test".
enum class SplitPart { kTrain, kVal, kTest };
SplitPart parse_split_part(const std::string& name);  // throws InvalidInput
const char* to_string(SplitPart part);
const std::vector<LabelRow>& part_of(const Split& split, SplitPart part);

// Rows are grouped into age strata (5-year bins, sparse old ages merged) and
// each stratum is shuffled with `seed`; its first round(test_fraction * n)
// rows go to test, the next round(val_fraction * n) to val, the rest to
// train (at least one val row per stratum of 2+, and one test row per
// stratum of 3+ when test_fraction > 0). Deterministic for a seed and row
// order on every platform. Throws InvalidInput unless 0 < val_fraction,
// 0 <= test_fraction and val_fraction + test_fraction < 1.
Split stratified_split(const std::vector<LabelRow>& rows, double val_fraction, double test_fraction,
                       uint64_t seed);

// Cross-fitting: a held-out test part drawn exactly as stratified_split draws
// it for the same seed and test_fraction (the same photos), and the rest (the
// pool) cut into k folds, stratified by age (each stratum's shuffled photos
// dealt round robin, so fold sizes differ by at most one). Every pool photo
// is in exactly one fold. Deterministic for a seed and row order. Throws
// InvalidInput for k < 2, a bad fraction, or too few photos for k folds.
struct Folds {
  std::vector<LabelRow> test;                 // held out from every fold
  std::vector<std::vector<LabelRow>> folds;  // the pool, cut in k
  // Fold k's run: train on the other folds, validate on fold k; no test part.
  Split split_for(int k) const;
  std::vector<LabelRow> pool() const;  // folds 0..k-1 in order
  std::vector<LabelRow> all() const;   // the pool, then the held-out part
};
Folds stratified_folds(const std::vector<LabelRow>& rows, int k, double test_fraction, uint64_t seed);

// A split by file name, {"train": [...], "val": [...], "test": [...]}, as
// model files record it; and back, taking the named photos from `rows` in
// the recorded order (names not among `rows` are left out).
using SplitNames = std::map<std::string, std::vector<std::string>>;
SplitNames split_names(const Split& split);
Split split_from_names(const SplitNames& names, const std::vector<LabelRow>& rows);

class CsvRow;
// One photo of a split or folds file: file_name (a plain name, no folder) and
// real_age, resolved against data_dir; InvalidInput naming the line otherwise.
LabelRow split_file_row(const CsvRow& row, const std::filesystem::path& data_dir);

// CSV (core/csv.h): file_name,real_age,split  (split = train|val|test). Atomic.
void write_split_csv(const std::filesystem::path& path, const Split& split);
// The same CSV as text, and back (`source` names it in errors): a split sent
// to another process (train/distributed.h) rather than written.
std::string split_csv_text(const Split& split);
// Reads a split back, resolving photos against `data_dir` (LabelRow::row is
// then the line in the split file). Throws IoError when the file is missing
// or unreadable, InvalidInput naming the line for a bad row.
Split read_split_csv(const std::filesystem::path& path, const std::filesystem::path& data_dir);
Split parse_split_csv(std::string text, const std::string& source, const std::filesystem::path& data_dir);

}  // namespace agegate
