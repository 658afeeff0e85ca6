// `agegate report RUN_DIR`: rebuilds a training run's HTML report, with the
// options it ran with in RUN_DIR/report/options.json.
#include <cstdio>
#include <filesystem>
#include <string>

#include "agegate/core/fs.h"
#include "agegate/core/run_info.h"
#include "agegate/report/model_report.h"
#include "command.h"

namespace agegate::cli {
namespace {

struct ReportCommandOptions {
  std::string run_dir;
  ReportOptions report;
};

int run_report(const ReportCommandOptions& o) {
  ModelReportSummary s = write_training_report(o.run_dir, o.report);
  const nlohmann::json ran_with = {{"run_dir", o.run_dir}, {"worst", o.report.worst_count}};
  write_file_atomic(s.index_html.parent_path() / "options.json", run_metadata("report", ran_with, 0).dump(2) + "\n");
  std::printf("best epoch      %d\n", s.best_epoch);
  std::printf("val MAE         %.2f\n", s.mae);
  std::printf("report          %s\n", s.index_html.string().c_str());
  return kOk;
}

AGEGATE_COMMAND(50, [](CLI::App& app) {
  auto opts = std::make_shared<ReportCommandOptions>();
  auto* cmd = app.add_subcommand("report", "Rebuild a training run's HTML report (RUN_DIR/report/)");
  cmd->add_option("run_dir", opts->run_dir, "run folder written by `agegate train`")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--worst", opts->report.worst_count, "photos in the worst-predictions gallery")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->callback([opts] { set_exit_code(run_report(*opts)); });
});

}  // namespace
}  // namespace agegate::cli
