// Policy flags shared by evaluate, predict and serve: a JSON policy file and/or
// individual flags (flags win over the file). Without a file, the base is
// the model's own default: the policy its training retuned on validation
// (metadata "recommended_policy"), or Policy{} for a model without one.
#pragma once
#include <CLI/CLI.hpp>

#include <filesystem>
#include <optional>
#include <string>

#include "agegate/core/error.h"
#include "agegate/model/policy_source.h"
#include "agegate/policy/policy.h"

namespace agegate::cli {

struct PolicyArgs {
  PolicyOverrides o;

  void add_to(CLI::App* cmd) {
    cmd->add_option("--policy", o.file, "policy JSON file (legal_age, challenge_age, max_risk, interval_level)");
    cmd->add_option("--legal-age", o.legal_age, "legal age for alcohol (default 18)");
    cmd->add_option("--challenge-age", o.challenge_age, "ask for ID below this estimate (default: the model's retuned policy, else 25)");
    cmd->add_option("--max-risk", o.max_risk, "largest accepted P(under legal age) (default: the model's retuned policy, else 0.01)");
    cmd->add_option("--level", o.interval_level, "interval level (default 0.9)");
  }
  // flip: the inference variant whose retuned policy is the default (unset: the file's default variant).
  Policy resolve(const std::filesystem::path& model = {}, std::optional<bool> flip = std::nullopt) const {
    return o.resolve(model, flip);
  }
};

// --flip-average on|off for evaluate, predict and serve: which of the model
// file's inference variants runs (each has its own calibration and policy).
struct FlipArg {
  std::string value;
  void add_to(CLI::App* cmd) {
    cmd->add_option("--flip-average", value,
                    "on: average each face with its mirror image (about twice the time, each setting with its own "
                    "calibration and policy); off: one pass [default: the model file's default, one pass for "
                    "models trained now]")
        ->check(CLI::IsMember({"on", "off"}));
  }
  std::optional<bool> get() const {
    if (value.empty()) return std::nullopt;
    return parse_on_off(value, "--flip-average");
  }
};

}  // namespace agegate::cli
