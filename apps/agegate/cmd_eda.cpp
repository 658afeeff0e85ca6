// `agegate eda`: the data report (counts, problems, age histogram, samples),
// with the options it ran with in OUT/options.json.
#include <cstdio>
#include <filesystem>
#include <string>

#include "agegate/core/fs.h"
#include "agegate/core/run_info.h"
#include "agegate/report/eda.h"
#include "command.h"

namespace agegate::cli {
namespace {

struct EdaCommandOptions {
  std::filesystem::path data_dir;  // empty: default_data_dir()
  std::filesystem::path out_dir = "eda-report";
  EdaOptions eda;
};

int run_eda(const EdaCommandOptions& o) {
  const std::filesystem::path data = o.data_dir.empty() ? default_data_dir() : o.data_dir;
  EdaSummary s = write_eda_report(data, o.out_dir, o.eda);
  const nlohmann::json ran_with = {{"data_dir", data.string()},
                                   {"out_dir", o.out_dir.string()},
                                   {"samples_per_band", o.eda.samples_per_band},
                                   {"sparse_below", o.eda.sparse_below}};
  write_file_atomic(o.out_dir / "options.json", run_metadata("eda", ran_with, 0).dump(2) + "\n");
  std::printf("rows read       %d\n", s.rows_read);
  std::printf("photo files     %d\n", s.photo_files);
  std::printf("usable          %d\n", s.usable);
  std::printf("problems        %zu\n", s.problems.size());
  for (size_t b = 0; b < s.bands.size(); ++b) {
    std::printf("%-15s %d\n", s.bands[b].name.c_str(), s.band_counts[b]);
  }
  for (const auto& line : s.conclusions) std::printf("- %s\n", line.c_str());
  std::printf("report          %s\n", s.index_html.string().c_str());
  return s.usable > 0 ? kOk : kFailed;
}

AGEGATE_COMMAND(40, [](CLI::App& app) {
  auto opts = std::make_shared<EdaCommandOptions>();
  auto* cmd = app.add_subcommand("eda", "Data report: counts, problems, age histogram, sample photos");
  cmd->add_option("--data", opts->data_dir, "folder with labels.csv and final_files/")
      ->default_str(default_data_dir().string());
  cmd->add_option("--out", opts->out_dir, "report folder (index.html + images)")
      ->default_str("eda-report");
  cmd->add_option("--samples-per-band", opts->eda.samples_per_band, "sample photos per age band")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--sparse-below", opts->eda.sparse_below,
                  "ages with fewer photos than this are called sparse")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->callback([opts] { set_exit_code(run_eda(*opts)); });
});

}  // namespace
}  // namespace agegate::cli
