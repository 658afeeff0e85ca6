// Policy flags shared by evaluate, predict and serve: a JSON policy file and/or
// individual flags (flags win over the file).
#pragma once
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "agegate/policy/policy.h"

namespace agegate::cli {

struct PolicyArgs {
  std::string file;
  std::optional<int> legal_age;
  std::optional<int> challenge_age;
  std::optional<double> max_risk;
  std::optional<double> interval_level;

  void add_to(CLI::App* cmd) {
    cmd->add_option("--policy", file, "policy JSON file (legal_age, challenge_age, max_risk, interval_level)");
    cmd->add_option("--legal-age", legal_age, "legal age for alcohol (default 18)");
    cmd->add_option("--challenge-age", challenge_age, "ask for ID below this estimate (default 25)");
    cmd->add_option("--max-risk", max_risk, "largest accepted P(under legal age) (default 0.01)");
    cmd->add_option("--level", interval_level, "interval level (default 0.9)");
  }
  Policy resolve() const {
    Policy p = file.empty() ? Policy{} : Policy::from_file(file);
    if (legal_age) p.legal_age = *legal_age;
    if (challenge_age) p.challenge_age = *challenge_age;
    if (max_risk) p.max_risk = *max_risk;
    if (interval_level) p.interval_level = *interval_level;
    p.validate();
    return p;
  }
};

}  // namespace agegate::cli
