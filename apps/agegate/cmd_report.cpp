// `agegate report RUN_DIR`: rebuilds a training run's HTML report.
#include <cstdio>
#include <string>

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
