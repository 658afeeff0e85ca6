// Seeded, age-stratified train/validation split, saved in the run folder.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include "agegate/data/labels.h"

namespace agegate {

struct Split {
  std::vector<LabelRow> train;
  std::vector<LabelRow> val;
};

// Rows are grouped into age strata (5-year bins, sparse old ages merged) and
// each stratum is shuffled with `seed` and cut at `val_fraction` (at least one
// val row per stratum of 2+). Deterministic for a seed and row order on every
// platform. Throws InvalidInput unless 0 < val_fraction < 1.
Split stratified_split(const std::vector<LabelRow>& rows, double val_fraction, uint64_t seed);

// CSV (core/csv.h): file_name,real_age,split  (split = train|val). Atomic.
void write_split_csv(const std::filesystem::path& path, const Split& split);
// Reads a split back, resolving photos against `data_dir` (LabelRow::row is
// then the line in the split file). Throws IoError when the file is missing
// or unreadable, InvalidInput naming the line for a bad row.
Split read_split_csv(const std::filesystem::path& path, const std::filesystem::path& data_dir);

}  // namespace agegate
