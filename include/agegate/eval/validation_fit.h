// What a trained network learns from its validation photos, in one place for
// the trainer's last step and `agegate calibrate`: whether test-time flip
// averaging helps, the calibration (per-band temperatures), and the policy
// retuned so at most 1% of 13-17-year-olds pass while the fewest people aged
// 25+ are asked. The figures it returns are under that policy.
//
//   ValidationFit f = fit_on_validation([&](bool flip) { return logits(flip); }, ages, names, options);
//   info.preprocess.flip_average = f.flip_average;
//   f.apply_to(info);
#pragma once
#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "agegate/eval/calibration.h"
#include "agegate/eval/evaluate.h"
#include "agegate/eval/metrics.h"

namespace agegate {

struct ModelInfo;

// Which inference setting a model file makes its default. Both settings are
// always fitted and stored: off (one pass, the till's speed), on (test-time
// flip averaging), or auto (whichever has the lower calibrated MAE).
enum class FlipChoice { kOff, kOn, kAuto };
inline constexpr FlipChoice kFlipChoices[] = {FlipChoice::kOff, FlipChoice::kOn, FlipChoice::kAuto};
const char* to_string(FlipChoice c);  // "off", "on", "auto" (parse_enum_name in core/enum_names.h reads them back)

struct ValidationFitOptions {
  FlipChoice flip_average = FlipChoice::kOff;
  bool per_band_calibration = true;
  Policy policy;                       // the base: legal age, interval level (and the fallback policy)
  double max_minor_pass = 0.01;        // the retuning's bound on 13-17-year-olds passing
  void validate() const;               // InvalidInput naming the option
};

// What one inference setting (with or without flip averaging) got.
struct VariantFit {
  bool flip_average = false;
  double mae = 0;  // calibrated
  CalibrationReport calibration;
  std::vector<Prediction> predictions;
  PolicyTuning tuning;
  Policy policy;
  Figures figures;
};

struct ValidationFit {
  std::vector<VariantFit> variants;  // [0] one pass, [1] flip averaging
  bool flip_average = false;         // the default setting
  // The default variant: its calibration, predictions, tuning, the policy
  // (the retuned one, or the base when none met the bound) and the figures under it.
  const VariantFit& chosen() const { return variants.at(flip_average ? 1 : 0); }
  // Writes every variant (ModelInfo::variants), puts the default in force
  // (ModelInfo::select_flip_average: flip_average, temperature, bands,
  // metadata "calibration" and "recommended_policy", null when no policy met
  // the bound) and records metadata "flip_average_choice".
  void apply_to(ModelInfo& info) const;
};

// logits_for(flip): the validation photos' raw logits [N,K] with or without
// flip averaging; ages [N] int64; names [N].
ValidationFit fit_on_validation(const std::function<at::Tensor(bool)>& logits_for, const at::Tensor& ages,
                                const std::vector<std::string>& names, const ValidationFitOptions& options);

}  // namespace agegate
