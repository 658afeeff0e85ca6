// Exploratory data analysis of a folder in the study's layout
// (labels.csv + final_files/), written as a self-contained HTML report.
//
//   EdaSummary s = write_eda_report("faces", "eda-report", {});
//   // eda-report/index.html, eda-report/charts/*.{dat,gp,png,svg}, eda-report/photos/*.jpg
//
// Photos are streamed one at a time: every photo is read, its header
// inspected and decoded once to prove it is readable, then dropped; only the
// sample photos of each age band are kept long enough to write a thumbnail.
// Throws InvalidInput (no labels.csv, no usable rows), IoError (cannot write
// the report, gnuplot missing). Bad rows and unreadable photos are not
// errors: they are listed in the report and in EdaSummary::problems.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "agegate/core/age_band.h"
#include "agegate/report/chart.h"

namespace agegate {

struct EdaOptions {
  int samples_per_band = 8;  // photos shown per age band
  int thumb_size = 120;      // thumbnail side in pixels
  int sparse_below = 10;     // an age with fewer usable photos than this is "sparse"
  ChartOptions charts;
};


struct EdaProblem {
  std::string kind;  // "bad row", "unreadable photo", "duplicate photo", "unlabelled photo"
  int row = 0;       // line in labels.csv, 0 when not about a row
  std::string file_name;
  std::string message;
};

struct EdaSummary {
  int rows_read = 0;          // data rows in labels.csv
  int photo_files = 0;        // files in final_files/
  int usable = 0;             // rows that passed the label checks and whose photo decodes
  std::map<int, int> age_counts;              // age -> usable photos
  std::vector<AgeBand> bands;                 // Policy{}.decision_bands(): under 18, 18-24, 25+
  std::vector<int> band_counts;               // usable photos per band
  double mean_age = 0;
  double median_age = 0;
  double skewness = 0;                        // sample skewness of the usable ages
  std::vector<int> sparse_ages;               // ages in [min,max] with < sparse_below photos
  std::map<std::string, int> formats;         // "JPEG" -> count (readable photos)
  std::map<std::string, int> sizes;           // "200x200" -> count
  int64_t min_bytes = 0, median_bytes = 0, max_bytes = 0;  // file sizes of readable photos
  std::vector<EdaProblem> problems;
  std::vector<std::string> conclusions;       // sentences computed from the figures above
  std::filesystem::path index_html;
  double seconds = 0;
};

EdaSummary write_eda_report(const std::filesystem::path& data_dir,
                            const std::filesystem::path& out_dir, const EdaOptions& options = {});

}  // namespace agegate
