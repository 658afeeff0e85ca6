// Flip choice, calibration and policy retuning on validation photos (see validation_fit.h).
#include "agegate/eval/validation_fit.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "agegate/core/error.h"
#include "agegate/core/log.h"
#include "agegate/eval/run_model.h"
#include "agegate/model/model_file.h"

namespace agegate {

void ValidationFitOptions::validate() const {
  if (flip_average != "auto" && flip_average != "on" && flip_average != "off") {
    throw InvalidInput("option --flip-average: auto, on or off, got '" + flip_average + "'");
  }
  if (!(max_minor_pass >= 0 && max_minor_pass < 1)) throw InvalidInput("option max_minor_pass: must be in [0,1)");
  policy.validate();
}

ValidationFit fit_on_validation(const std::function<at::Tensor(bool)>& logits_for, const at::Tensor& ages,
                                const std::vector<std::string>& names, const ValidationFitOptions& o) {
  o.validate();
  CalibrationOptions co;
  co.level = o.policy.interval_level;
  co.per_band = o.per_band_calibration;
  struct Candidate {
    CalibrationReport cal;
    std::vector<Prediction> preds;
    double mae = 0;
  };
  auto candidate = [&](bool flip) {
    Candidate c;
    const at::Tensor logits = logits_for(flip);
    c.cal = calibrate(logits, ages, co);
    c.preds = to_predictions(ModelRun{logits, ages, names, {}}, c.cal.calibration());
    c.mae = summarise(c.preds, o.policy).mae;
    return c;
  };
  ValidationFit f;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  f.mae_without_flip = f.mae_with_flip = nan;
  f.flip_average = o.flip_average == "on";
  Candidate chosen = candidate(f.flip_average);
  (f.flip_average ? f.mae_with_flip : f.mae_without_flip) = chosen.mae;
  if (o.flip_average == "auto") {
    Candidate flipped = candidate(true);
    f.mae_with_flip = flipped.mae;
    log().info("test-time flip averaging: validation MAE {:.3f} without, {:.3f} with: {}", chosen.mae, flipped.mae,
               flipped.mae < chosen.mae ? "on" : "off");
    if (flipped.mae < chosen.mae) {
      chosen = std::move(flipped);
      f.flip_average = true;
    }
  }
  f.calibration = chosen.cal;
  f.predictions = std::move(chosen.preds);
  f.tuning = tune_policy(score(f.predictions, o.policy), o.policy, o.max_minor_pass);
  f.policy = f.tuning.found ? f.tuning.policy : o.policy;
  if (f.tuning.found) {
    log().info("policy retuned on validation: {} (13-17 pass {:.1f}%, 25+ asked {:.1f}%)", f.policy.describe(),
               100 * f.tuning.rates.minors_13_17_pass.rate(), 100 * f.tuning.rates.adults_25plus_check.rate());
  } else {
    log().warn("no policy on the grid keeps 13-17 passing within {:.1f}% on validation; keeping {}",
               100 * o.max_minor_pass, o.policy.describe());
  }
  f.figures = measure(f.predictions, f.policy);
  f.figures.tuning = f.tuning;
  return f;
}

void ValidationFit::apply_to(ModelInfo& info) const {
  info.preprocess.flip_average = flip_average;
  info.temperature = calibration.temperature;
  info.temperature_bands = calibration.bands;
  info.metadata["calibration"] = calibration.to_json();
  info.metadata["recommended_policy"] = tuning.found ? policy.to_json() : nlohmann::json(nullptr);
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  info.metadata["flip_average_choice"] = {{"on", flip_average},
                                          {"val_mae_without", number(mae_without_flip)},
                                          {"val_mae_with", number(mae_with_flip)}};
}

}  // namespace agegate
