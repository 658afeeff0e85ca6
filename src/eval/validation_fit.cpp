// Flip choice, calibration and policy retuning on validation photos (see validation_fit.h).
#include "agegate/eval/validation_fit.h"

#include <ATen/ATen.h>

#include "agegate/core/error.h"
#include "agegate/core/log.h"
#include "agegate/eval/run_model.h"
#include "agegate/model/model_file.h"

namespace agegate {

const char* to_string(FlipChoice c) {
  switch (c) {
    case FlipChoice::kOff: return "off";
    case FlipChoice::kOn: return "on";
    case FlipChoice::kAuto: return "auto";
  }
  throw InternalError("unknown flip choice");
}

void ValidationFitOptions::validate() const {
  if (!(max_minor_pass >= 0 && max_minor_pass < 1)) throw InvalidInput("option max_minor_pass: must be in [0,1)");
  policy.validate();
}

ValidationFit fit_on_validation(const std::function<at::Tensor(bool)>& logits_for, const at::Tensor& ages,
                                const std::vector<std::string>& names, const ValidationFitOptions& o) {
  o.validate();
  CalibrationOptions co;
  co.level = o.policy.interval_level;
  co.per_band = o.per_band_calibration;
  auto fit_variant = [&](bool flip) {
    VariantFit v;
    v.flip_average = flip;
    const at::Tensor logits = logits_for(flip);
    v.calibration = calibrate(logits, ages, co);
    v.predictions = to_predictions(ModelRun{logits, ages, names, {}}, v.calibration.calibration());
    v.mae = summarise(v.predictions, o.policy).mae;
    v.tuning = tune_policy(score(v.predictions, o.policy), o.policy, o.max_minor_pass);
    v.policy = v.tuning.found ? v.tuning.policy : o.policy;
    const char* name = flip ? "with flip averaging" : "one pass";
    if (v.tuning.found) {
      log().info("{}: calibrated validation MAE {:.3f}; policy retuned: {} (13-17 pass {:.1f}%, 25+ asked {:.1f}%)",
                 name, v.mae, v.policy.describe(), 100 * v.tuning.rates.minors_13_17_pass.rate(),
                 100 * v.tuning.rates.adults_25plus_check.rate());
    } else {
      log().warn("{}: calibrated validation MAE {:.3f}; no policy on the grid keeps 13-17 passing within {:.1f}%; "
                 "keeping {}", name, v.mae, 100 * o.max_minor_pass, o.policy.describe());
    }
    v.figures = measure(v.predictions, v.policy);
    v.figures.tuning = v.tuning;
    return v;
  };
  ValidationFit f;
  f.variants.push_back(fit_variant(false));
  f.variants.push_back(fit_variant(true));
  const double without = f.variants[0].mae, with = f.variants[1].mae;
  f.flip_average = o.flip_average == FlipChoice::kOn || (o.flip_average == FlipChoice::kAuto && with < without);
  log().info("default inference: {} (validation MAE {:.3f} one pass, {:.3f} with flip averaging)",
             f.flip_average ? "flip averaging" : "one pass", without, with);
  return f;
}

void ValidationFit::apply_to(ModelInfo& info) const {
  info.variants.clear();
  for (const auto& v : variants) {
    InferenceVariant iv;
    iv.flip_average = v.flip_average;
    iv.temperature = v.calibration.temperature;
    iv.temperature_bands = v.calibration.bands;
    iv.recommended_policy = v.tuning.found ? v.policy.to_json() : nlohmann::json(nullptr);
    iv.calibration = v.calibration.to_json();
    info.variants.push_back(std::move(iv));
  }
  info.select_flip_average(flip_average);
  info.record.flip_average_choice = {
      {"on", flip_average}, {"val_mae_without", variants[0].mae}, {"val_mae_with", variants[1].mae}};
}

}  // namespace agegate
