// agegate calibrate: refits what a model learns from its validation photos
// (flip averaging, per-band calibration, the retuned default policy) on the
// model's own validation part, and writes a new model file with the same
// weights. For a model trained before these existed, or to retune for
// another bound on minors passing. eval/validation_fit.h does the work.
#include <cstdio>

#include "agegate/core/error.h"
#include "agegate/core/log.h"
#include "agegate/core/run_info.h"
#include "agegate/core/time.h"
#include "agegate/data/labels.h"
#include "agegate/eval/evaluate.h"
#include "agegate/data/loader.h"
#include "agegate/eval/validation_fit.h"
#include "agegate/model/model_file.h"
#include "agegate/train/step.h"
#include "command.h"
#include "enum_option.h"
#include "policy_options.h"

namespace agegate::cli {
namespace {
namespace fs = std::filesystem;

struct CalibrateArgs {
  fs::path model;
  fs::path data;
  fs::path out;
  ValidationFitOptions fit;
  int batch_size = 64;
  int workers = 2;
  bool json = false;
  PolicyArgs policy;
};

int run_calibrate(CalibrateArgs a) {
  if (a.model.empty()) a.model = default_model_path();
  if (a.data.empty()) a.data = default_data_dir();
  if (fs::exists(a.out) && fs::equivalent(a.out, a.model)) {
    throw InvalidInput("--out " + a.out.string() + " is --model itself: write a new file, then replace it");
  }
  // The base policy: the flags and --policy file, not the model's old recommendation.
  a.fit.policy = a.policy.resolve();
  a.fit.validate();
  LoadedModel model = load_model_file(a.model);
  LabelSet labels = read_labels(a.data, LabelsOptions{});
  ModelSplit ms = model_split(model.info, labels.rows);
  if (!ms.same_data) {
    throw InvalidInput(a.data.string() + " is not the data " + a.model.string() +
                       " was trained on (fingerprint differs): its validation part cannot be found");
  }
  const std::vector<LabelRow>& val = ms.split.val;
  log().info("{}: refitting on its {} validation photos", a.model.string(), val.size());
  // Decoded and prepared once; both passes (with and without flip averaging)
  // run over the same tensors, as in the trainer's last step.
  LoaderOptions lo;
  lo.batch_size = a.batch_size;
  lo.workers = a.workers;
  const PreparedSet set = load_prepared_set(val, model.info.preprocess, lo);
  if (set.file_names.empty()) throw InvalidInput("no readable validation photo in " + a.data.string());
  const ValidationFit fit = fit_on_validation(
      [&](bool flip) {
        PreprocessSpec spec = model.info.preprocess;
        spec.flip_average = flip;
        return set_logits(model.net, set, spec, c10::kCPU, a.batch_size);
      },
      set.ages.round().to(at::kLong), set.file_names, a.fit);
  ModelInfo info = model.info;
  fit.apply_to(info);
  const VariantFit& chosen = fit.chosen();
  info.record.metrics.validation = chosen.figures.to_json();
  info.record.metrics.test.reset();  // measured under the old calibration: evaluate --split model again
  info.record.recalibrated = {{"at", utc_timestamp()}, {"from", a.model.string()},
                              {"options", {{"flip_average", to_string(a.fit.flip_average)},
                                           {"per_band_calibration", a.fit.per_band_calibration},
                                           {"policy", a.fit.policy.to_json()}}},
                              {"version", agegate_version()}};
  save_model_file(a.out, model.net, info);
  if (a.json) {
    std::printf("%s\n", nlohmann::json({{"model", a.out.string()}, {"flip_average", fit.flip_average},
                                        {"calibration", chosen.calibration.to_json()},
                                        {"validation", chosen.figures.to_json()}})
                            .dump(2)
                            .c_str());
  } else {
    std::printf("model          %s\n", a.out.c_str());
    std::printf("flip average   %s\n", fit.flip_average ? "on" : "off");
    std::printf("%s\n%s", format_summary_table(chosen.figures.summary).c_str(), format_tuning_table(chosen.tuning).c_str());
  }
  return kOk;
}

AGEGATE_COMMAND(25, [](CLI::App& app) {
  auto a = std::make_shared<CalibrateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "refit flip averaging, per-band calibration and the default policy on a model's validation part");
  cmd->add_option("--model", a->model, "model file (.agm)")->default_str(default_model_path().string());
  cmd->add_option("--data", a->data, "the folder it was trained on")->default_str(default_data_dir().string());
  cmd->add_option("--out", a->out, "new model file to write")->required();
  add_enum_option(cmd, "--flip-average", a->fit.flip_average, kFlipChoices,
                  "the new file's default inference (both are fitted and stored): off (one pass), on (flip "
                  "averaging), auto (the lower validation MAE)");
  cmd->add_flag("!--no-per-band-calibration", a->fit.per_band_calibration, "one temperature for all ages");
  cmd->add_option("--max-minor-pass", a->fit.max_minor_pass,
                  "retuned policy: largest share of 13-17-year-olds passing on validation")
      ->capture_default_str();
  cmd->add_option("--batch-size", a->batch_size)->capture_default_str();
  cmd->add_option("--workers", a->workers, "decoding threads")->capture_default_str();
  cmd->add_flag("--json", a->json, "print one JSON object");
  a->policy.add_to(cmd);
  cmd->callback([a] { set_exit_code(run_calibrate(*a)); });
});

}  // namespace
}  // namespace agegate::cli
