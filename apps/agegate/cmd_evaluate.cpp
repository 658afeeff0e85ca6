// agegate evaluate: MAE, bands, coverage and policy error rates on a labelled folder.
#include <ATen/Parallel.h>

#include <cstdio>

#include "agegate/core/error.h"
#include "agegate/core/log.h"
#include "agegate/core/run_info.h"
#include "agegate/data/split.h"
#include "agegate/eval/calibration.h"
#include "agegate/eval/run_model.h"
#include "agegate/model/model_file.h"
#include "agegate/report/model_report.h"
#include "command.h"
#include "policy_options.h"

namespace agegate::cli {
namespace {

struct EvaluateArgs {
  std::string model = default_model_path().string();
  std::string data_dir = default_data_dir().string();
  std::string predictions;
  std::string report_dir;
  std::string split;  // a run's split.csv: evaluate its validation photos only
  bool json = false;
  bool strict = false;
  bool no_calibration = false;
  int batch_size = 64;
  int workers = 2;
  PolicyArgs policy;
};

void setup(CLI::App& app) {
  auto a = std::make_shared<EvaluateArgs>();
  CLI::App* cmd = app.add_subcommand("evaluate", "measure a model on a labelled folder (study layout)");
  cmd->add_option("--model", a->model, "model file (.agm)")->capture_default_str();
  cmd->add_option("--data", a->data_dir, "folder with labels.csv and final_files/")->capture_default_str();
  cmd->add_option("--predictions", a->predictions, "write per-photo CSV file_name,real_age,pred_age,low,high,p_under_legal");
  cmd->add_option("--report", a->report_dir, "write an HTML evaluation report into this folder");
  cmd->add_option("--split", a->split, "a run's split.csv: evaluate only its validation photos (from --data)");
  cmd->add_flag("--json", a->json, "print one JSON object instead of tables");
  cmd->add_flag("--strict", a->strict, "stop at the first bad CSV row");
  cmd->add_flag("--no-calibration", a->no_calibration, "use the raw distribution (temperature 1)");
  cmd->add_option("--batch-size", a->batch_size)->capture_default_str();
  cmd->add_option("--workers", a->workers)->capture_default_str();
  a->policy.add_to(cmd);
  cmd->callback([a] {
    Policy policy = a->policy.resolve();
    at::set_num_threads(default_thread_count());
    LoadedModel model = load_model_file(a->model);
    LabelsOptions lo;
    lo.strict = a->strict;
    LabelSet labels = read_labels(a->data_dir, lo);
    log().info("labels: {}", labels.summary());
    if (!a->split.empty()) {
      labels.rows = read_split_csv(a->split, a->data_dir).val;
      log().info("split {}: {} validation photos", a->split, labels.rows.size());
    }
    RunModelOptions ro;
    ro.batch_size = a->batch_size;
    ro.workers = a->workers;
    ModelRun run = run_model(model.net, model.info.preprocess, labels.rows, ro);
    if (run.file_names.empty()) throw InvalidInput("no readable photo in " + a->data_dir);
    double t = a->no_calibration ? 1.0 : model.info.temperature;
    auto preds = to_predictions(run, t);
    EvalSummary summary = summarise(preds, policy);
    auto curve = policy_curve(preds, policy);
    nlohmann::json j = summary.to_json();
    auto risks = risk_curve(preds, policy);
    j["policy_curve"] = curve_to_json(curve);
    j["risk_curve"] = curve_to_json(risks);
    j["model"] = a->model;
    j["data_dir"] = a->data_dir;
    j["temperature"] = t;
    j["skipped_rows"] = labels.problems.size();
    j["unreadable_photos"] = run.skipped.size();
    j["coverage_uncalibrated"] = interval_coverage(run.logits, run.ages, 1.0, policy.interval_level).to_json();
    if (!a->predictions.empty()) write_predictions_csv(a->predictions, preds, policy);
    if (!a->report_dir.empty()) {
      std::filesystem::path csv = a->predictions.empty()
                                      ? std::filesystem::path(a->report_dir) / "predictions.csv"
                                      : std::filesystem::path(a->predictions);
      if (a->predictions.empty()) write_predictions_csv(csv, preds, policy);
      auto rep = write_evaluation_report(csv, a->data_dir, j, a->report_dir);
      log().info("evaluation report: {}", rep.index_html.string());
    }
    if (a->json) {
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      // The summary table opens with the policy in force.
      std::printf("%s\n%s\n%s", format_summary_table(summary).c_str(), format_curve_table(curve).c_str(),
                  format_curve_table(risks).c_str());
    }
    set_exit_code(kOk);
  });
}

AGEGATE_COMMAND(20, setup);

}  // namespace
}  // namespace agegate::cli
