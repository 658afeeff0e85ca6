// The checkout decision ("Challenge 25"): ask for ID when the shopper may be
// under the challenge age, or when the risk of being under the legal age is
// above what the retailer accepts.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

#include "agegate/policy/age_distribution.h"

namespace agegate {

struct Policy {
  int legal_age = 18;
  int challenge_age = 25;
  double max_risk = 0.01;       // largest accepted P(under legal age) for no_check
  double interval_level = 0.9;  // level of the reported interval

  void validate() const;  // throws InvalidInput naming the field
  nlohmann::json to_json() const;
  static Policy from_json(const nlohmann::json& j);           // validates; unknown keys are errors
  static Policy from_file(const std::filesystem::path& path);  // JSON file
  std::string describe() const;  // "legal age 18, challenge age 25, max risk 1%, interval 90%"
};

enum class Decision { kIdCheck, kNoCheck };
const char* to_string(Decision d);  // "id_check" / "no_check"

struct PolicyResult {
  Decision decision = Decision::kIdCheck;
  std::string reason;
  double estimate = 0;
  double low = 0;
  double high = 0;
  double p_under_legal = 0;
};

PolicyResult decide(const AgeDistribution& dist, const Policy& policy);

}  // namespace agegate
