// Training and evaluation reports: self-contained HTML pages with gnuplot
// charts, built only from the files a run or an evaluation writes, so any
// run folder can be re-reported later.
//
//   write_training_report("runs/a");          // -> runs/a/report/index.html
//   write_evaluation_report("eval/predictions.csv", "faces", summary_json, "eval/report");
//
// Inputs (fixed formats):
//   metrics.csv          train/checkpoint.h (read_metrics_csv)
//   predictions CSV      file_name,real_age,pred_age,low,high,p_under_legal
//                        (eval's write_predictions_csv / read_predictions_csv)
//   run.json             {"best_epoch":int, "data_dir":str, "options":{...}, "val_metrics":{...},
//                         "test_metrics":{...} or null}
//   predictions_test.csv the held-out photos (shown when run.json has test_metrics),
//                        else predictions_val.csv
// Photos of the worst predictions are read from <data_dir>/final_files/ and
// copied as thumbnails into the report; a missing photo is shown as missing
// in the caption and does not stop the report.
// Throws InvalidInput (malformed CSV/JSON, naming file and row), IoError
// (unreadable input, unwritable output, gnuplot missing).
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "agegate/eval/metrics.h"
#include "agegate/report/chart.h"
#include "agegate/train/checkpoint.h"

namespace agegate {

struct ReportOptions {
  int worst_count = 16;    // photos in the worst-predictions gallery
  int thumb_size = 120;    // thumbnail side in pixels
  ChartOptions charts;
};

struct ModelReportSummary {
  std::filesystem::path index_html;
  int best_epoch = 0;                       // 0 in an evaluation report
  double mae = 0;
  std::vector<BandSummary> bands;           // eval's summarise_bands() of the predictions
  std::vector<PredictionRow> worst;      // largest |pred - real| first
  std::vector<std::string> charts;          // PNG paths relative to the report folder
};

ModelReportSummary write_training_report(const std::filesystem::path& run_dir,
                                         const ReportOptions& options = {});

// `summary` is the evaluation's JSON (may be empty); when it has "policy_curve"
// (rows with challenge_age, minors_13_17_pass_rate, adults_25plus_check_rate)
// the policy trade-off chart is drawn.
ModelReportSummary write_evaluation_report(const std::filesystem::path& predictions_csv,
                                           const std::filesystem::path& data_dir,
                                           const nlohmann::json& summary,
                                           const std::filesystem::path& out_dir,
                                           const ReportOptions& options = {});

}  // namespace agegate
