// Fairness by training, never by input: per-photo loss weights that give
// every demographic group the same total weight within each age band, so
// that a group with fewer photos of some age still counts as much there.
// The demographics file (eval/groups.h) is read only here and by the
// figures by group; the network never sees it, and nothing at the till does.
//
//   std::vector<double> w = group_balance_weights(split.train, groups, {"sex"});
//
// Cells are (age band of the label, report_age_bands(), joint value of the
// named columns). Within a band with G annotated groups and n annotated
// photos, a photo in a cell of c photos gets n / (G * c), capped to
// [1/kMaxBalanceWeight, kMaxBalanceWeight] so a cell of a few photos cannot
// dominate; photos without an annotation keep 1. The weights are then scaled
// to mean 1. Throws InvalidInput naming a column the file lacks.
#pragma once
#include <string>
#include <vector>

#include "agegate/data/labels.h"
#include "agegate/eval/groups.h"

namespace agegate {

inline constexpr double kMaxBalanceWeight = 5.0;

std::vector<double> group_balance_weights(const std::vector<LabelRow>& rows, const GroupTable& groups,
                                          const std::vector<std::string>& columns);

}  // namespace agegate
