// Policy: validation, JSON/file loading and the id_check / no_check rule.
#include "agegate/policy/policy.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <tuple>

#include "agegate/core/error.h"
#include "agegate/core/format.h"
#include "agegate/core/fs.h"

namespace agegate {
namespace {

constexpr uint64_t kMaxPolicyFileBytes = 1 << 20;
constexpr int kMaxDecimals = 4;

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

enum class Shown { kBelow, kAtMost, kAbove };

// Formats `value` with one decimal, or more when one decimal would print a
// comparison with `limit` that reads wrong ("25.0 < 25", "1.0% > 1%").
std::string shown_against(double value, double limit, Shown relation) {
  for (int d = 1; d < kMaxDecimals; ++d) {
    const double shown = std::stod(fixed(value, d));
    const bool reads_right = relation == Shown::kBelow    ? shown < limit
                             : relation == Shown::kAtMost ? shown <= limit
                                                          : shown > limit;
    if (reads_right) return fixed(value, d);
  }
  return fixed(value, kMaxDecimals);
}

// The shortest form of a limit the user wrote: 0.01 -> "1%", 0.005 -> "0.5%".
std::string percent(double fraction_of_one) { return format_number("%g", fraction_of_one * 100.0) + "%"; }

const std::string& field_names() {
  static const std::string names = "legal_age, challenge_age, max_risk, interval_level";
  return names;
}

int read_int(const nlohmann::json& j, const char* key) {
  const auto& v = j.at(key);
  if (v.is_number_integer() || v.is_number_unsigned()) return v.get<int>();
  if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() && std::abs(v.get<double>()) < 1e6) {
    return static_cast<int>(v.get<double>());
  }
  throw InvalidInput(std::string("policy: ") + key + " must be a whole number of years, got " + v.dump());
}

double read_double(const nlohmann::json& j, const char* key) {
  const auto& v = j.at(key);
  if (!v.is_number()) throw InvalidInput(std::string("policy: ") + key + " must be a number, got " + v.dump());
  return v.get<double>();
}

}  // namespace

void Policy::validate() const {
  if (legal_age < 1 || legal_age > kMaxAge) {
    throw InvalidInput("policy: legal_age must be in 1.." + std::to_string(kMaxAge) + ", got " +
                       std::to_string(legal_age));
  }
  if (challenge_age < legal_age || challenge_age > kMaxAge) {
    throw InvalidInput("policy: challenge_age must be in legal_age (" + std::to_string(legal_age) + ").." +
                       std::to_string(kMaxAge) + ", got " + std::to_string(challenge_age));
  }
  if (!(max_risk >= 0 && max_risk < 1)) {
    throw InvalidInput("policy: max_risk must be in [0,1) (a probability, 0.01 = 1%), got " + format_number("%g", max_risk));
  }
  if (!(interval_level > 0 && interval_level < 1)) {
    throw InvalidInput("policy: interval_level must be in (0,1) (0.9 = 90%), got " + format_number("%g", interval_level));
  }
}

nlohmann::json Policy::to_json() const {
  return {{"legal_age", legal_age},
          {"challenge_age", challenge_age},
          {"max_risk", max_risk},
          {"interval_level", interval_level}};
}

Policy Policy::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw InvalidInput("policy must be a JSON object, got " + std::string(j.type_name()));
  Policy p;
  for (const auto& [key, value] : j.items()) {
    if (key == "legal_age") {
      p.legal_age = read_int(j, "legal_age");
    } else if (key == "challenge_age") {
      p.challenge_age = read_int(j, "challenge_age");
    } else if (key == "max_risk") {
      p.max_risk = read_double(j, "max_risk");
    } else if (key == "interval_level") {
      p.interval_level = read_double(j, "interval_level");
    } else {
      throw InvalidInput("policy: unknown key \"" + key + "\" (known: " + field_names() + ")");
    }
  }
  p.validate();
  return p;
}

Policy Policy::from_file(const std::filesystem::path& path) {
  std::string text = read_file(path, kMaxPolicyFileBytes);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for 1e999
    throw InvalidInput("policy file " + path.string() + " is not valid JSON: " + e.what());
  }
  try {
    return from_json(j);
  } catch (const InvalidInput& e) {
    throw InvalidInput("policy file " + path.string() + ": " + e.what());
  }
}

std::vector<AgeBand> Policy::decision_bands() const {
  return {{"under " + std::to_string(legal_age), kMinAge, legal_age - 1},
          {std::to_string(legal_age) + "-" + std::to_string(challenge_age - 1), legal_age, challenge_age - 1},
          {std::to_string(challenge_age) + "+", challenge_age, kMaxAge}};
}

std::string Policy::describe() const {
  return "legal age " + std::to_string(legal_age) + ", challenge age " + std::to_string(challenge_age) +
         ", max risk " + percent(max_risk) + ", interval " + percent(interval_level);
}

const char* to_string(Decision d) { return d == Decision::kNoCheck ? "no_check" : "id_check"; }

nlohmann::json PolicyResult::to_json() const {
  return {{"decision", to_string(decision)}, {"reason", reason},   {"estimate", estimate},
          {"low", low},                      {"high", high},       {"p_under_legal", p_under_legal}};
}

Decision decide(double estimate, double p_under_legal, const Policy& policy) {
  const bool young_looking = estimate < policy.challenge_age;
  const bool risky = p_under_legal > policy.max_risk;
  return young_looking || risky ? Decision::kIdCheck : Decision::kNoCheck;
}

PolicyResult decide(const AgeDistribution& dist, const Policy& policy) {
  policy.validate();
  dist.validate();
  PolicyResult r;
  r.estimate = dist.mean();
  std::tie(r.low, r.high) = dist.interval(policy.interval_level);
  r.p_under_legal = dist.prob_under(policy.legal_age);
  r.decision = decide(r.estimate, r.p_under_legal, policy);

  const std::string challenge = std::to_string(policy.challenge_age);
  const std::string under = "P(under " + std::to_string(policy.legal_age) + ") = ";
  const double risk_pct = policy.max_risk * 100.0;
  const bool young_looking = r.estimate < policy.challenge_age;
  const bool risky = r.p_under_legal > policy.max_risk;
  if (r.decision == Decision::kNoCheck) {
    r.reason = "estimate " + fixed(r.estimate, 1) + " >= " + challenge + " and " + under +
               shown_against(r.p_under_legal * 100.0, risk_pct, Shown::kAtMost) + "% <= " + percent(policy.max_risk);
    return r;
  }
  if (young_looking) {
    r.reason = "estimate " + shown_against(r.estimate, policy.challenge_age, Shown::kBelow) + " < challenge age " + challenge;
  }
  if (risky) {
    if (!r.reason.empty()) r.reason += "; ";
    r.reason += under + shown_against(r.p_under_legal * 100.0, risk_pct, Shown::kAbove) + "% > " + percent(policy.max_risk);
  }
  return r;
}

}  // namespace agegate
