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
  j["policy_tuning"] = tuning.to_json();
  return j;
}

Figures measure(const std::vector<Prediction>& predictions, const Policy& policy) {
  return {summarise(predictions, policy), agegate::policy_curve(predictions, policy),
          agegate::risk_curve(predictions, policy), tune_policy(score(predictions, policy), policy)};
}

ModelSplit model_split(const ModelInfo& info, std::vector<LabelRow> rows) {
  const SplitParams params = info.record.training ? info.record.training->split_params() : SplitParams{};
  if (params.max_photos > 0 && static_cast<int>(rows.size()) > params.max_photos) rows.resize(params.max_photos);
  ModelSplit m;
  if (!info.record.data.split.empty()) {
    // The parts by name, in the order the trainer recorded them (a split read from a file, a fold of a
    // cross-fit), so the fingerprint below is over the same sequence it computed.
    m.split = split_from_names(info.record.data.split, rows);
  } else {
    m.split = stratified_split(rows, params.val_fraction, params.test_fraction, params.seed);
  }
  const std::string& recorded = info.record.data.fingerprint;
  m.same_data = !recorded.empty() && recorded == data_fingerprint(m.split.all());
  return m;
}

nlohmann::json EvaluateOptions::to_json() const {
  return {{"model", model.string()},     {"data_dir", data_dir.string()}, {"split", split.string()}, {"part", part},
          {"strict", strict},            {"calibrated", calibrated},      {"batch_size", batch_size},
          {"workers", workers},          {"threads", threads},            {"policy", policy.to_json()},
          {"groups", groups.string()},   {"no_groups", no_groups},        {"min_group_count", group_options.min_count},
          {"ensemble", [this] {
             nlohmann::json e = nlohmann::json::array();
             for (const auto& m : ensemble) e.push_back(m.string());
             return e;
           }()},
          {"flip_average", flip_average ? nlohmann::json(*flip_average ? "on" : "off") : nlohmann::json("model default")}};
}

nlohmann::json EvaluationResult::to_json() const {
  nlohmann::json j = figures.to_json();
  j["model"] = model.string();
  j["data_dir"] = data_dir.string();
  j["temperature"] = temperature;
  j["calibration"] = calibration.to_json();
  j["skipped_rows"] = skipped_rows;
  j["unreadable_photos"] = unreadable_photos;
  j["coverage_uncalibrated"] = coverage_uncalibrated.to_json();
  j["groups"] = groups ? groups->to_json() : nlohmann::json(nullptr);
  return j;
}

std::string EvaluationResult::format_tables() const {
  std::string out = format_summary_table(figures.summary) + "\n" + format_curve_table(figures.policy_curve) + "\n" +
                    format_curve_table(figures.risk_curve) + "\n" + format_tuning_table(figures.tuning);
  if (groups) {
    out += "\n" + groups->format_tables();
    for (const auto& c : groups->conclusions) out += "- " + c + "\n";
  }
  return out;
}

EvaluationResult evaluate(const EvaluateOptions& in) {
  EvaluateOptions o = in;
  if (o.model.empty()) o.model = default_model_path();
  if (o.data_dir.empty()) o.data_dir = default_data_dir();
  o.policy.validate();
  o.group_options.validate();
  const SplitPart part = parse_split_part(o.part);  // before any loading: a bad name fails at once
  at::set_num_threads(o.threads > 0 ? o.threads : default_thread_count());
  LoadedModel model = load_model_file(o.model, o.flip_average);
  LabelsOptions lo;
  lo.strict = o.strict;
  LabelSet labels = read_labels(o.data_dir, lo);
  log().info("labels: {}", labels.summary());
  // Read before the long run, so a bad file fails at once.
  std::optional<GroupTable> groups;
  if (!o.no_groups) {
    if (!o.groups.empty()) {
      groups = read_groups_csv(o.groups);
    } else if (std::filesystem::exists(default_groups_path(o.data_dir))) {
      groups = read_groups_csv(default_groups_path(o.data_dir));
    }
  }
  if (o.split == kModelSplit) {
    ModelSplit ms = model_split(model.info, labels.rows);
    if (!ms.same_data) {
      throw InvalidInput(o.data_dir.string() + " is not the data " + o.model.string() +
                         " was trained on (fingerprint differs): --split model cannot find its parts");
    }
    labels.rows = part_of(ms.split, part);
  } else if (!o.split.empty()) {
    labels.rows = part_of(read_split_csv(o.split, o.data_dir), part);
  }
  if (!o.split.empty()) {
    const std::string what = o.split == kModelSplit ? "the model's own split" : o.split.string();
    if (labels.rows.empty()) {
      throw InvalidInput(what + " has no " + o.part + " photos" +
                         (part == SplitPart::kTest ? " (a run from before the held-out part: use --part val)" : ""));
    }
    log().info("{}: {} {} photos", what, labels.rows.size(), o.part);
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
  r.calibration = o.calibrated ? model.info.calibration() : AgeCalibration(1.0);
  r.predictions = to_predictions(run, r.calibration);
  for (const auto& extra : o.ensemble) {
    LoadedModel other = load_model_file(extra, o.flip_average);
    ModelRun other_run = run_model(other.net, other.info.preprocess, labels.rows, ro);
    if (other_run.file_names != run.file_names) {
      throw InvalidInput("ensemble: " + extra.string() + " read other photos than " + o.model.string());
    }
    const auto dists = to_distributions(other_run.logits, o.calibrated ? other.info.calibration() : AgeCalibration(1.0));
    for (size_t i = 0; i < dists.size(); ++i) {
      auto& probs = r.predictions[i].dist.probs;
      if (probs.size() != dists[i].probs.size()) throw InvalidInput("ensemble: " + extra.string() + " has another age range");
      for (size_t a = 0; a < probs.size(); ++a) probs[a] += dists[i].probs[a];
    }
  }
  if (!o.ensemble.empty()) {
    const double n = static_cast<double>(o.ensemble.size() + 1);
    for (auto& p : r.predictions) {
      for (double& v : p.dist.probs) v /= n;
    }
  }
  r.figures = measure(r.predictions, o.policy);
  r.coverage_uncalibrated = interval_coverage(run.logits, run.ages, 1.0, o.policy.interval_level);
  r.skipped_rows = labels.problems.size();
  r.unreadable_photos = run.skipped.size();
  if (groups) r.groups = group_figures(score(r.predictions, o.policy), *groups, o.policy, o.group_options);
  return r;
}

}  // namespace agegate
