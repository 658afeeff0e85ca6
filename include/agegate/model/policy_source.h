// Where a command's policy comes from: a JSON policy file and/or single
// settings over the model's own default (the policy its training retuned,
// metadata "recommended_policy" of the chosen inference variant; Policy{}
// for a model without one). The service resolves it again for every model
// it loads, so a new model brings its own retuned policy and the operator's
// settings stay on top.
#pragma once
#include <filesystem>
#include <optional>

#include "agegate/policy/policy.h"

namespace agegate {

struct PolicyOverrides {
  std::filesystem::path file;  // a policy JSON file: the base instead of the model's
  std::optional<int> legal_age;
  std::optional<int> challenge_age;
  std::optional<double> max_risk;
  std::optional<double> interval_level;

  // The policy for `model` (empty or missing: Policy{} as the base; a broken
  // model file is named later by whoever loads it). Throws InvalidInput for
  // a bad policy file or a value out of range.
  Policy resolve(const std::filesystem::path& model, std::optional<bool> flip = std::nullopt) const;
};

}  // namespace agegate
