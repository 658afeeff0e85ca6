// The checkout decision ("Challenge 25"): ask for ID when the shopper may be
// under the challenge age, or when the risk of being under the legal age is
// above what the retailer accepts.
//
//   agegate::Policy policy = agegate::Policy::from_file("policy.json");  // or defaults
//   agegate::PolicyResult r = agegate::decide(dist, policy);
//   // r.decision == Decision::kIdCheck, r.reason == "estimate 22.4 < challenge age 25"
//
// The rule (decide()):
//   id_check when  estimate < challenge_age           ("estimate 22.4 < challenge age 25")
//             or   P(under legal_age) > max_risk       ("P(under 18) = 3.1% > 1%")
//   no_check otherwise ("estimate 31.0 >= 25 and P(under 18) = 0.2% <= 1%").
// Both failed conditions are named when both hold, joined by "; ".
// An estimate exactly at the challenge age passes the first test (">=").
// The estimate is AgeDistribution::mean() (completed years); P(under legal)
// is prob_under(legal_age) on the real-age scale (bins 0..legal_age-1).
// The interval's low end is reported but not a separate rule: for the
// continuous CDF, "low end of the central `level` interval < legal age" is
// (up to ties) "P(under legal) > (1 - level) / 2" (5% at 90%), which the max_risk
// test already covers whenever max_risk <= (1 - level) / 2, and a retailer who
// wants a looser risk says so through max_risk, in one place.
//
// JSON form (every key optional, unknown keys are errors):
//   {"legal_age": 18, "challenge_age": 25, "max_risk": 0.01, "interval_level": 0.9}
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "agegate/core/age_band.h"
#include "agegate/policy/age_distribution.h"

namespace agegate {

struct Policy {
  int legal_age = 18;
  int challenge_age = 25;
  double max_risk = 0.01;       // largest accepted P(under legal age) for no_check
  double interval_level = 0.9;  // level of the reported interval

  // Throws InvalidInput naming the field and value: legal_age in 1..120,
  // challenge_age in legal_age..120, max_risk in [0,1), interval_level in (0,1).
  void validate() const;
  nlohmann::json to_json() const;
  static Policy from_json(const nlohmann::json& j);           // validates; unknown keys are errors
  // JSON file. IoError when unreadable, InvalidInput (naming the file) when malformed.
  static Policy from_file(const std::filesystem::path& path);
  std::string describe() const;  // "legal age 18, challenge age 25, max risk 1%, interval 90%"
  // The groups the decision cares about: "under 18" (0..legal-1), "18-24"
  // (legal..challenge-1), "25+" (challenge..kMaxAge).
  std::vector<AgeBand> decision_bands() const;
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

  // {"decision": "id_check", "reason", "estimate", "low", "high", "p_under_legal"}
  nlohmann::json to_json() const;
};

// Validates the policy (InvalidInput) and uses the distribution as given.
PolicyResult decide(const AgeDistribution& dist, const Policy& policy);
// The same rule from precomputed numbers (metrics sweep many policies).
Decision decide(double estimate, double p_under_legal, const Policy& policy);

}  // namespace agegate
