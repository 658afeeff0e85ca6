// Charts for the reports, drawn by gnuplot run as a subprocess (no pixel code
// of our own). A chart is a data file plus a script written next to the
// images, so a report can be re-plotted or inspected by hand.
//
//   ChartOptions opt;
//   write_file_atomic(dir / "ages.dat", "# age count\n1 3\n2 5\n");   // core/fs.h
//   draw_chart(dir, "ages", "plot 'ages.dat' using 1:2 with boxes notitle", opt);
//   // -> dir/ages.gp, dir/ages.png and (opt.svg) dir/ages.svg
//
// Thread-safe as long as two calls do not draw the same name in the same folder.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace agegate {

struct ChartOptions {
  std::string gnuplot = "gnuplot";  // program, looked up on PATH
  int width = 900;                  // pixels of the PNG (SVG uses the same size)
  int height = 420;
  bool svg = true;                  // also write an SVG next to each PNG
  std::string font = "DejaVu Sans,10";
};

// Writes `script_body` (gnuplot commands that plot; file names relative to
// `dir`) into dir/<name>.gp with the terminal set-up for PNG and, when
// options.svg, SVG, then runs gnuplot in `dir`.
// Throws IoError naming gnuplot when it is missing or fails (its stderr
// is quoted), or when the PNG was not produced.
void draw_chart(const std::filesystem::path& dir, const std::string& name,
                const std::string& script_body, const ChartOptions& options);

// Quotes `text` as a gnuplot single-quoted string ('' stands for ').
std::string gnuplot_quote(std::string_view text);
// A text field for a chart's data file, double-quoted; double quotes and
// control characters inside become spaces (gnuplot has no escape there).
std::string gnuplot_data_label(std::string_view text);
// A value for a chart's data file: NaN (no data) becomes gnuplot's missing marker '?'.
std::string gnuplot_value(double v);

}  // namespace agegate
