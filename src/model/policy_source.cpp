// A policy from its file, the model's retuned default and single settings (see policy_source.h).
#include "agegate/model/policy_source.h"

#include "agegate/core/error.h"
#include "agegate/model/model_file.h"

namespace agegate {
namespace {

Policy model_default(const std::filesystem::path& model, std::optional<bool> flip) {
  if (model.empty() || !std::filesystem::exists(model)) return Policy{};
  ModelInfo info;
  try {
    info = read_model_info(model, flip);
  } catch (const Error&) {
    return Policy{};
  }
  const nlohmann::json& rec = info.record.recommended_policy;
  return rec.is_object() ? Policy::from_json(rec) : Policy{};
}

}  // namespace

Policy PolicyOverrides::resolve(const std::filesystem::path& model, std::optional<bool> flip) const {
  Policy p = file.empty() ? model_default(model, flip) : Policy::from_file(file);
  if (legal_age) p.legal_age = *legal_age;
  if (challenge_age) p.challenge_age = *challenge_age;
  if (max_risk) p.max_risk = *max_risk;
  if (interval_level) p.interval_level = *interval_level;
  p.validate();
  return p;
}

}  // namespace agegate
