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
#include "agegate/model/model_file.h"
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
    cmd->add_option("--challenge-age", challenge_age, "ask for ID below this estimate (default: the model's retuned policy, else 25)");
    cmd->add_option("--max-risk", max_risk, "largest accepted P(under legal age) (default: the model's retuned policy, else 0.01)");
    cmd->add_option("--level", interval_level, "interval level (default 0.9)");
  }
  // flip: the inference variant whose retuned policy is the default (unset: the file's default variant).
  Policy resolve(const std::filesystem::path& model = {}, std::optional<bool> flip = std::nullopt) const {
    Policy p = file.empty() ? model_default(model, flip) : Policy::from_file(file);
    if (legal_age) p.legal_age = *legal_age;
    if (challenge_age) p.challenge_age = *challenge_age;
    if (max_risk) p.max_risk = *max_risk;
    if (interval_level) p.interval_level = *interval_level;
    p.validate();
    return p;
  }
  static Policy model_default(const std::filesystem::path& model, std::optional<bool> flip) {
    // A missing or broken model file: loading it later names the problem, after
    // the flags were checked.
    if (model.empty() || !std::filesystem::exists(model)) return Policy{};
    ModelInfo info;
    try {
      info = read_model_info(model, flip);
    } catch (const Error&) {
      return Policy{};
    }
    const nlohmann::json rec = info.metadata.value("recommended_policy", nlohmann::json(nullptr));
    return rec.is_object() ? Policy::from_json(rec) : Policy{};
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
