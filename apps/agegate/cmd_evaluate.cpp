// agegate evaluate: MAE, bands, coverage and policy error rates on a labelled
// folder (eval/evaluate.h does the work); optional predictions CSV and HTML
// report, each with the options it ran with beside it.
#include <cstdio>

#include "agegate/core/fs.h"
#include "agegate/core/log.h"
#include "agegate/core/run_info.h"
#include "agegate/eval/evaluate.h"
#include "agegate/report/model_report.h"
#include "command.h"
#include "policy_options.h"

namespace agegate::cli {
namespace {
namespace fs = std::filesystem;

struct EvaluateArgs {
  EvaluateOptions options;  // every default lives there
  fs::path predictions;
  fs::path report_dir;
  bool json = false;
  bool no_calibration = false;
  PolicyArgs policy;
  FlipArg flip;
};

void add_options(CLI::App* cmd, EvaluateArgs& a) {
  auto& o = a.options;
  cmd->add_option("--model", o.model, "model file (.agm)")->default_str(default_model_path().string());
  cmd->add_option("--data", o.data_dir, "folder with labels.csv and final_files/")
      ->default_str(default_data_dir().string());
  cmd->add_option("--predictions", a.predictions, "write per-photo CSV file_name,real_age,pred_age,low,high,p_under_legal");
  cmd->add_option("--report", a.report_dir, "write an HTML evaluation report into this folder");
  cmd->add_option("--split", o.split,
                  "a run's split.csv, or 'model' for the model's own split: evaluate only one part of it "
                  "(photos from --data)");
  cmd->add_option("--part", o.part, "with --split: test (held out, the honest figures), val or train")
      ->capture_default_str();
  CLI::Option* groups = cmd->add_option("--groups", o.groups,
                  "demographics CSV (file_name + any columns, e.g. sex,ethnicity): figures by group "
                  "[default: demographics.csv beside labels.csv when present]");
  cmd->add_flag("--no-groups", o.no_groups, "no figures by group")->excludes(groups);
  cmd->add_option("--min-group-count", o.group_options.min_count,
                  "cells with fewer photos are shown as too few to measure")
      ->capture_default_str();
  cmd->add_option("--ensemble", o.ensemble,
                  "more model files: measure the equal-weight mixture of their calibrated distributions "
                  "with --model's (an experiment; predict and serve run one model)");
  cmd->add_flag("--json", a.json, "print one JSON object instead of tables");
  cmd->add_flag("--strict", o.strict, "stop at the first bad CSV row");
  cmd->add_flag("--no-calibration", a.no_calibration, "use the raw distribution (temperature 1)");
  cmd->add_option("--batch-size", o.batch_size)->capture_default_str();
  cmd->add_option("--workers", o.workers, "decoding threads")->capture_default_str();
  a.policy.add_to(cmd);
  a.flip.add_to(cmd);
}

int run_evaluate(const EvaluateArgs& a) {
  EvaluateOptions o = a.options;
  o.calibrated = !a.no_calibration;
  o.flip_average = a.flip.get();
  o.policy = a.policy.resolve(o.model.empty() ? default_model_path() : o.model, o.flip_average);
  EvaluationResult r = evaluate(o);
  nlohmann::json j = r.to_json();
  const nlohmann::json ran_with = run_metadata("evaluate", o.to_json(), 0);
  if (!a.predictions.empty()) {
    write_predictions_csv(a.predictions, r.predictions, o.policy);
    write_file_atomic(fs::path(a.predictions.string() + ".options.json"), ran_with.dump(2) + "\n");
  }
  if (!a.report_dir.empty()) {
    const fs::path csv = a.predictions.empty() ? a.report_dir / "predictions.csv" : a.predictions;
    if (a.predictions.empty()) write_predictions_csv(csv, r.predictions, o.policy);
    auto rep = write_evaluation_report(csv, r.data_dir, j, a.report_dir);
    write_file_atomic(a.report_dir / "options.json", ran_with.dump(2) + "\n");
    log().info("evaluation report: {}", rep.index_html.string());
  }
  if (a.json) {
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s", r.format_tables().c_str());
  }
  return kOk;
}

AGEGATE_COMMAND(20, [](CLI::App& app) {
  auto a = std::make_shared<EvaluateArgs>();
  CLI::App* cmd = app.add_subcommand("evaluate", "measure a model on a labelled folder (study layout)");
  add_options(cmd, *a);
  cmd->callback([a] { set_exit_code(run_evaluate(*a)); });
});

}  // namespace
}  // namespace agegate::cli
