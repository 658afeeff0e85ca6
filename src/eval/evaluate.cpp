// Evaluation on a labelled folder (see evaluate.h).
#include "agegate/eval/evaluate.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "agegate/core/error.h"
#include "agegate/core/log.h"
#include "agegate/core/run_info.h"
#include "agegate/data/labels.h"
#include "agegate/data/split.h"
#include "agegate/eval/run_model.h"
#include "agegate/model/model_file.h"

namespace agegate {

nlohmann::json Figures::to_json() const {
  nlohmann::json j = summary.to_json();
  j["policy_curve"] = curve_to_json(policy_curve);
  j["risk_curve"] = curve_to_json(risk_curve);
  return j;
}

Figures measure(const std::vector<Prediction>& predictions, const Policy& policy) {
  return {summarise(predictions, policy), agegate::policy_curve(predictions, policy),
          agegate::risk_curve(predictions, policy)};
}

nlohmann::json EvaluateOptions::to_json() const {
  return {{"model", model.string()},     {"data_dir", data_dir.string()}, {"split", split.string()}, {"part", part},
          {"strict", strict},            {"calibrated", calibrated},      {"batch_size", batch_size},
          {"workers", workers},          {"threads", threads},            {"policy", policy.to_json()}};
}

nlohmann::json EvaluationResult::to_json() const {
  nlohmann::json j = figures.to_json();
  j["model"] = model.string();
  j["data_dir"] = data_dir.string();
  j["temperature"] = temperature;
  j["skipped_rows"] = skipped_rows;
  j["unreadable_photos"] = unreadable_photos;
  j["coverage_uncalibrated"] = coverage_uncalibrated.to_json();
  return j;
}

std::string EvaluationResult::format_tables() const {
  return format_summary_table(figures.summary) + "\n" + format_curve_table(figures.policy_curve) + "\n" +
         format_curve_table(figures.risk_curve);
}

EvaluationResult evaluate(const EvaluateOptions& in) {
  EvaluateOptions o = in;
  if (o.model.empty()) o.model = default_model_path();
  if (o.data_dir.empty()) o.data_dir = default_data_dir();
  o.policy.validate();
  const SplitPart part = parse_split_part(o.part);  // before any loading: a bad name fails at once
  at::set_num_threads(o.threads > 0 ? o.threads : default_thread_count());
  LoadedModel model = load_model_file(o.model);
  LabelsOptions lo;
  lo.strict = o.strict;
  LabelSet labels = read_labels(o.data_dir, lo);
  log().info("labels: {}", labels.summary());
  if (!o.split.empty()) {
    labels.rows = part_of(read_split_csv(o.split, o.data_dir), part);
    if (labels.rows.empty()) {
      throw InvalidInput(o.split.string() + " has no " + o.part + " photos" +
                         (part == SplitPart::kTest ? " (a run from before the held-out part: use --part val)" : ""));
    }
    log().info("split {}: {} {} photos", o.split.string(), labels.rows.size(), o.part);
  }
  RunModelOptions ro;
  ro.batch_size = o.batch_size;
  ro.workers = o.workers;
  ModelRun run = run_model(model.net, model.info.preprocess, labels.rows, ro);
  if (run.file_names.empty()) throw InvalidInput("no readable photo in " + o.data_dir.string());

  EvaluationResult r;
  r.model = o.model;
  r.data_dir = o.data_dir;
  r.temperature = o.calibrated ? model.info.temperature : 1.0;
  r.predictions = to_predictions(run, r.temperature);
  r.figures = measure(r.predictions, o.policy);
  r.coverage_uncalibrated = interval_coverage(run.logits, run.ages, 1.0, o.policy.interval_level);
  r.skipped_rows = labels.problems.size();
  r.unreadable_photos = run.skipped.size();
  return r;
}

}  // namespace agegate
