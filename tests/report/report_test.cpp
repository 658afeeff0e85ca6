// Report tests: the EDA, training and evaluation reports built from a few
// dozen real photos, their figures checked against the inputs, and the pages
// opened in headless Chromium.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/progress.h"
#include "agegate/data/image.h"
#include "agegate/eval/metrics.h"
#include "agegate/report/eda.h"
#include "agegate/report/html.h"
#include "agegate/report/model_report.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;
using testing::make_mini_dataset;
using testing::scratch_dir;

constexpr int kMiniPhotos = 30;

std::vector<std::pair<std::string, int>> read_csv_rows(const fs::path& csv) {
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  std::vector<std::pair<std::string, int>> out;
  while (std::getline(in, line)) {
    auto comma = line.find(',');
    out.emplace_back(line.substr(0, comma), std::stoi(line.substr(comma + 1)));
  }
  return out;
}

void append(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::app);
  out << text;
}

// Every <img src> of a page, relative to its folder.
std::vector<std::string> image_sources(const std::string& html) {
  std::vector<std::string> out;
  std::regex src(R"re(<img src="([^"]+)")re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), src); it != std::sregex_iterator(); ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

// Each image exists, stays inside the report folder and decodes as PNG/JPEG.
void expect_images_valid(const fs::path& report_dir, const std::string& html, size_t at_least) {
  auto sources = image_sources(html);
  EXPECT_GE(sources.size(), at_least);
  for (const auto& s : sources) {
    EXPECT_EQ(s.find(".."), std::string::npos) << s;
    EXPECT_FALSE(fs::path(s).is_absolute()) << s;
    fs::path p = report_dir / s;
    ASSERT_TRUE(fs::exists(p)) << p;
    auto bytes = read_file_bytes(p);
    ImageInfo info = read_image_info(bytes.data(), bytes.size(), p.string());
    EXPECT_GT(info.width, 0) << p;
    Image img = decode_image(bytes.data(), bytes.size(), p.string());
    EXPECT_FALSE(img.empty()) << p;
  }
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override { Progress::set_enabled(false); }
};

// A mini dataset with one bad age, one missing photo, one corrupt JPEG and
// one photo whose bytes duplicate another's.
struct DirtyDataset {
  fs::path dir;
  std::map<int, int> expected_counts;  // from the clean CSV rows + the duplicate
};

DirtyDataset make_dirty_dataset(const std::string& name) {
  DirtyDataset d;
  d.dir = make_mini_dataset(name, kMiniPhotos);
  auto rows = read_csv_rows(d.dir / "labels.csv");
  for (auto& [file, age] : rows) ++d.expected_counts[age];
  fs::copy_file(d.dir / "final_files" / rows[0].first, d.dir / "final_files" / "dup copy.jpg");
  ++d.expected_counts[21];
  std::string corrupt = "\xFF\xD8\xFF\xE0 not really a jpeg <b>";
  write_file_atomic(d.dir / "final_files" / "corrupt.jpg", corrupt);
  append(d.dir / "labels.csv",
         "bad_age.jpg,abc\nmissing.jpg,30\ncorrupt.jpg,40\ndup copy.jpg,21\n");
  write_file_atomic(d.dir / "final_files" / "bad_age.jpg", corrupt);
  return d;
}

std::map<int, int> read_histogram(const fs::path& dat) {
  std::ifstream in(dat);
  std::string line;
  std::map<int, int> out;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    int age = 0, count = 0, band = 0;
    ss >> age >> count >> band;
    if (count) out[age] = count;
  }
  return out;
}

TEST_F(ReportTest, EdaHistogramMatchesCsvAndProblemsAreListed) {
  DirtyDataset d = make_dirty_dataset("data");
  fs::path out = scratch_dir("eda");
  EdaOptions o;
  o.samples_per_band = 3;
  EdaSummary s = write_eda_report(d.dir, out, o);

  EXPECT_EQ(s.rows_read, kMiniPhotos + 4);
  EXPECT_EQ(s.usable, kMiniPhotos + 1);
  EXPECT_EQ(s.photo_files, kMiniPhotos + 3);
  EXPECT_EQ(s.age_counts, d.expected_counts);
  EXPECT_EQ(read_histogram(out / "charts" / "age_histogram.dat"), d.expected_counts);

  int band_total = 0;
  for (size_t b = 0; b < s.bands.size(); ++b) {
    int expected = 0;
    for (auto& [age, n] : d.expected_counts) {
      if (age >= s.bands[b].low && age <= s.bands[b].high) expected += n;
    }
    EXPECT_EQ(s.band_counts[b], expected) << s.bands[b].name;
    band_total += s.band_counts[b];
  }
  EXPECT_EQ(band_total, s.usable);

  std::multiset<std::string> kinds;
  std::set<std::string> files;
  for (auto& p : s.problems) {
    kinds.insert(p.kind);
    files.insert(p.file_name);
  }
  EXPECT_EQ(kinds.count("bad row"), 2u);  // bad age + missing photo
  EXPECT_EQ(kinds.count("unreadable photo"), 1u);
  EXPECT_EQ(kinds.count("duplicate photo"), 1u);
  for (auto f : {"bad_age.jpg", "missing.jpg", "corrupt.jpg", "dup copy.jpg"}) {
    EXPECT_TRUE(files.count(f)) << f;
  }

  std::string html = read_file(s.index_html);
  for (auto f : {"bad_age.jpg", "missing.jpg", "corrupt.jpg", "dup copy.jpg"}) {
    EXPECT_NE(html.find(f), std::string::npos) << f;
  }
  EXPECT_EQ(html.find("<b>"), std::string::npos) << "problem text must be escaped";
  EXPECT_TRUE(fs::exists(out / "charts" / "age_histogram.svg"));
  // Histogram + up to 3 samples per band (one sample may be the corrupt photo).
  size_t samples = 0;
  for (int n : s.band_counts) samples += static_cast<size_t>(std::min(n, 3));
  expect_images_valid(out, html, samples);

  // Conclusions come from the figures: the under-18 share is the computed one.
  char share[32];
  std::snprintf(share, sizeof share, "%.1f%%", 100.0 * s.band_counts[0] / s.usable);
  bool found = false;
  for (auto& c : s.conclusions) found = found || c.find(share) != std::string::npos;
  EXPECT_TRUE(found) << share;
  EXPECT_NE(html.find(share), std::string::npos);
}

TEST_F(ReportTest, EdaSparseAgesAndSkewAreComputed) {
  fs::path dir = make_mini_dataset("data", kMiniPhotos);
  EdaOptions o;
  o.samples_per_band = 0;
  o.sparse_below = 2;
  EdaSummary s = write_eda_report(dir, scratch_dir("eda"), o);
  std::vector<int> ages;
  for (auto& [f, a] : read_csv_rows(dir / "labels.csv")) ages.push_back(a);
  int lo = *std::min_element(ages.begin(), ages.end());
  int hi = *std::max_element(ages.begin(), ages.end());
  std::vector<int> sparse;
  for (int a = lo; a <= hi; ++a) {
    if (std::count(ages.begin(), ages.end(), a) < 2) sparse.push_back(a);
  }
  EXPECT_EQ(s.sparse_ages, sparse);
  double mean = 0;
  for (int a : ages) mean += a;
  mean /= ages.size();
  EXPECT_NEAR(s.mean_age, mean, 1e-9);
  // Spread-out ages from 0 to 80+ with equal buckets: not strongly skewed.
  EXPECT_LT(std::fabs(s.skewness), 1.0);
  EXPECT_EQ(s.formats.at(to_string(ImageFormat::kJpeg)), kMiniPhotos);
}

TEST_F(ReportTest, EdaWithoutLabelsOrGnuplotFailsClearly) {
  fs::path empty = scratch_dir("empty");
  EXPECT_THROW(write_eda_report(empty, scratch_dir("eda"), {}), IoError);  // no labels.csv: a missing file

  fs::path dir = make_mini_dataset("data", 6);
  EdaOptions o;
  o.charts.gnuplot = "agegate-no-such-gnuplot";
  try {
    write_eda_report(dir, scratch_dir("eda2"), o);
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("gnuplot"), std::string::npos) << e.what();
  }
  EdaOptions bad;
  bad.samples_per_band = -1;
  EXPECT_THROW(write_eda_report(dir, scratch_dir("eda3"), bad), InvalidInput);
}

// A run folder as the trainer writes it, from real photos and made-up numbers.
struct SyntheticRun {
  fs::path dir;
  fs::path data;
  int best_epoch = 3;
  std::vector<std::pair<std::string, double>> errors;  // file, |error|
};

SyntheticRun make_run(const std::string& name) {
  SyntheticRun r;
  r.data = make_mini_dataset(name + "-data", 24);
  r.dir = scratch_dir(name + "-run");
  std::string metrics = "epoch,train_loss,train_mae,val_loss,val_mae,lr,seconds,images_per_s\n";
  const double val_mae[] = {12.0, 9.5, 7.1, 7.4, 7.9};
  for (int e = 1; e <= 5; ++e) {
    metrics += std::to_string(e) + "," + std::to_string(5.0 / e) + "," + std::to_string(14.0 / e) +
               "," + std::to_string(4.0 / e + 0.5) + "," + std::to_string(val_mae[e - 1]) + "," +
               std::to_string(1e-3 / e) + ",60,42.5\n";
  }
  write_file_atomic(r.dir / "metrics.csv", metrics);
  std::string preds = "file_name,real_age,pred_age,low,high,p_under_legal\n";
  int i = 0;
  for (auto& [file, age] : read_csv_rows(r.data / "labels.csv")) {
    double err = ((i * 7) % 23) - 11 + 0.25 * (i % 3);  // distinct made-up errors
    double pred = std::max(0.0, age + err);
    char line[256];
    std::snprintf(line, sizeof line, "%s,%d,%.2f,%.2f,%.2f,%.6f\n", file.c_str(), age, pred,
                  std::max(0.0, pred - 6), pred + 6, pred < 18 ? 0.7 : 0.01);
    preds += line;
    r.errors.emplace_back(file, std::fabs(std::round(pred * 100) / 100 - age));
    ++i;
  }
  write_file_atomic(r.dir / "predictions_val.csv", preds);
  nlohmann::json run = {{"best_epoch", r.best_epoch},
                        {"data_dir", r.data.string()},
                        {"options", {{"backbone", "mobilenet_v2"}, {"epochs", 5}}},
                        {"val_metrics", {{"mae", 7.1}, {"count", 24}, {"within5", 0.45}}}};
  write_file_atomic(r.dir / "run.json", run.dump(2));
  return r;
}

TEST_F(ReportTest, TrainingReportMarksBestEpochAndOrdersWorstPredictions) {
  SyntheticRun run = make_run("t");
  ReportOptions o;
  o.worst_count = 5;
  ModelReportSummary s = write_training_report(run.dir, o);
  fs::path report = run.dir / "report";
  EXPECT_EQ(s.index_html, report / "index.html");
  EXPECT_EQ(s.best_epoch, run.best_epoch);

  std::string html = read_file(s.index_html);
  EXPECT_NE(html.find("Best epoch 3: validation MAE 7.10"), std::string::npos);
  EXPECT_NE(html.find("3 (best)"), std::string::npos);
  for (auto chart : {"loss", "mae", "lr"}) {
    std::string gp = read_file(report / "charts" / (std::string(chart) + ".gp"));
    EXPECT_NE(gp.find("set arrow from 3, graph 0 to 3, graph 1"), std::string::npos) << chart;
    EXPECT_TRUE(fs::exists(report / "charts" / (std::string(chart) + ".svg"))) << chart;
  }
  for (auto chart : {"scatter", "mae_by_band", "error_hist"}) {
    EXPECT_TRUE(fs::exists(report / "charts" / (std::string(chart) + ".png"))) << chart;
  }

  // The gallery holds the largest errors, largest first, in the page's order too.
  auto expected = run.errors;
  std::stable_sort(expected.begin(), expected.end(),
                   [](auto& a, auto& b) { return a.second > b.second; });
  ASSERT_EQ(s.worst.size(), 5u);
  size_t last_pos = 0;
  for (size_t k = 0; k < s.worst.size(); ++k) {
    EXPECT_EQ(s.worst[k].file_name, expected[k].first) << k;
    EXPECT_NEAR(std::fabs(s.worst[k].pred_age - s.worst[k].real_age), expected[k].second, 1e-6);
    size_t pos = html.find("<td>" + std::to_string(k + 1) + "</td><td>" + expected[k].first);
    ASSERT_NE(pos, std::string::npos) << expected[k].first;
    EXPECT_GT(pos, last_pos);
    last_pos = pos;
  }

  // The error histogram's counts add up to the predictions.
  std::ifstream hist(report / "charts" / "error_hist.dat");
  std::string line;
  int total = 0;
  while (std::getline(hist, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ss(line);
    int e = 0, n = 0;
    ss >> e >> n;
    total += n;
  }
  EXPECT_EQ(total, static_cast<int>(run.errors.size()));
  // Six charts + five photos.
  expect_images_valid(report, html, 6 + 5);
}

TEST_F(ReportTest, TrainingReportRejectsBrokenRunFolders) {
  SyntheticRun run = make_run("b");
  write_file_atomic(run.dir / "metrics.csv", "epoch,loss\n1,2\n");
  try {
    write_training_report(run.dir);
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("metrics.csv"), std::string::npos) << e.what();
  }
  write_file_atomic(run.dir / "metrics.csv",
                    "epoch,train_loss,train_mae,val_loss,val_mae,lr,seconds,images_per_s\n"
                    "1,2,3,4,oops,0.001,1,1\n");
  try {
    write_training_report(run.dir);
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  write_file_atomic(run.dir / "run.json", "{\"data_dir\": 3}");
  EXPECT_THROW(write_training_report(run.dir), InvalidInput);
  fs::remove(run.dir / "run.json");
  EXPECT_THROW(write_training_report(run.dir), IoError);
}

TEST_F(ReportTest, EvaluationReportDrawsPolicyCurveAndSurvivesMissingPhotos) {
  SyntheticRun run = make_run("e");
  // A prediction whose photo is gone must not stop the report.
  append(run.dir / "predictions_val.csv", "gone.jpg,15,60.00,50.00,70.00,0.000001\n");
  nlohmann::json summary = {{"mae", 8.0}, {"count", 25}, {"policy_curve", nlohmann::json::array()}};
  for (int c = 18; c <= 30; ++c) {
    summary["policy_curve"].push_back({{"challenge_age", c},
                                       {"minors_13_17_pass_rate", c < 22 ? nlohmann::json(0.1) : nlohmann::json(nullptr)},
                                       {"under_legal_pass_rate", 0.05},
                                       {"adults_25plus_check_rate", 0.02 * c}});
  }
  fs::path out = scratch_dir("eval");
  ModelReportSummary s = write_evaluation_report(run.dir / "predictions_val.csv", run.data, summary, out);
  EXPECT_EQ(s.best_epoch, 0);
  ASSERT_FALSE(s.worst.empty());
  EXPECT_EQ(s.worst[0].file_name, "gone.jpg");
  EXPECT_TRUE(fs::exists(out / "charts" / "policy.png"));
  EXPECT_FALSE(fs::exists(out / "charts" / "loss.png"));
  std::string dat = read_file(out / "charts" / "policy.dat");
  EXPECT_NE(dat.find("25 ? 0.500000"), std::string::npos) << dat;
  std::string html = read_file(s.index_html);
  EXPECT_NE(html.find("could not be read"), std::string::npos);
  expect_images_valid(out, html, 5);
}

// Figures given with the predictions must describe the same photos: a
// count that disagrees with the CSV is an error naming what differs, and
// agreeing figures are the ones the page shows.
TEST_F(ReportTest, EvaluationFiguresMustMatchThePredictions) {
  SyntheticRun run = make_run("f");
  auto rows = read_predictions_csv(run.dir / "predictions_val.csv");
  nlohmann::json figures = {{"mae", 1.234567}, {"count", rows.size()}, {"mae_by_band", nlohmann::json::object()}};
  for (const auto& b : summarise_bands(rows)) {
    figures["mae_by_band"][b.name] = {{"count", b.count}, {"mae", b.count ? nlohmann::json(9.876) : nlohmann::json()}};
  }
  fs::path out = scratch_dir("figures");
  ModelReportSummary s = write_evaluation_report(run.dir / "predictions_val.csv", run.data, figures, out);
  EXPECT_DOUBLE_EQ(s.mae, 1.234567);
  const std::string html = read_file(s.index_html);
  EXPECT_NE(html.find("mean absolute error 1.23 years"), std::string::npos);
  EXPECT_NE(html.find("<td>9.88</td>"), std::string::npos);

  auto error_of = [&](const nlohmann::json& f) {
    try {
      write_evaluation_report(run.dir / "predictions_val.csv", run.data, f, out);
    } catch (const InvalidInput& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  figures["count"] = rows.size() + 1;
  EXPECT_NE(error_of(figures).find("predictions CSV has " + std::to_string(rows.size())), std::string::npos)
      << error_of(figures);
  figures["count"] = rows.size();
  const std::string band = figures["mae_by_band"].begin().key();
  figures["mae_by_band"][band]["count"] = 999;
  EXPECT_NE(error_of(figures).find("band " + band), std::string::npos) << error_of(figures);
}

TEST_F(ReportTest, HtmlEscapesEverything) {
  EXPECT_EQ(html_escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  HtmlPage page("t<1>");
  page.table({"a"}, {{"<script>"}});
  EXPECT_EQ(page.str().find("<script>alert"), std::string::npos);
  EXPECT_NE(page.str().find("&lt;script&gt;"), std::string::npos);
}

TEST_F(ReportTest, EdaCommandPrintsSummaryAndReportPath) {
  fs::path dir = make_mini_dataset("data", 8);
  fs::path out = scratch_dir("out");
  auto r = testing::run_agegate("-q eda --data '" + dir.string() + "' --out '" + out.string() +
                                "' --samples-per-band 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("usable          8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find((out / "index.html").string()), std::string::npos) << r.out;
  auto bad = testing::run_agegate("eda --data '" + scratch_dir("none").string() + "' --out '" +
                                  out.string() + "'");
  EXPECT_EQ(bad.exit_code, 3) << bad.err;  // no labels.csv: I/O error, as in every command
}

// --- headless Chromium ------------------------------------------------------

void expect_page_renders(const fs::path& page, const std::string& name) {
  fs::path scratch = scratch_dir("chromium-" + name);
  fs::path shot = scratch / "screenshot.png";
  testing::run_chromium(page, "--screenshot='" + shot.string() + "'", scratch);
  ASSERT_TRUE(fs::exists(shot)) << read_file(scratch / "chromium.err");
  auto bytes = read_file_bytes(shot);
  ImageInfo info = read_image_info(bytes.data(), bytes.size(), shot.string());
  EXPECT_EQ(info.format, ImageFormat::kPng);
  EXPECT_EQ(info.width, 1280);

  std::string dom = testing::run_chromium(page, "--dump-dom", scratch);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom, m, std::regex(R"re(data-images-total="(\d+)")re"))) << dom.substr(0, 2000);
  int total = std::stoi(m[1]);
  ASSERT_TRUE(std::regex_search(dom, m, std::regex(R"re(data-images-ok="(\d+)")re")));
  int ok = std::stoi(m[1]);
  EXPECT_GT(total, 0);
  EXPECT_EQ(ok, total) << "images that failed to render in " << page;
  EXPECT_EQ(total, static_cast<int>(image_sources(read_file(page)).size()));
}

TEST_F(ReportTest, ReportsRenderInHeadlessChromium) {
  AGEGATE_REQUIRE(!testing::chromium_program().empty(), "no chromium (scripts/install-deps.sh --with-test-tools)");
  DirtyDataset d = make_dirty_dataset("data");
  fs::path eda = scratch_dir("eda");
  EdaOptions o;
  o.samples_per_band = 2;
  write_eda_report(d.dir, eda, o);
  expect_page_renders(eda / "index.html", "eda");

  SyntheticRun run = make_run("c");
  ReportOptions ro;
  ro.worst_count = 4;
  write_training_report(run.dir, ro);
  expect_page_renders(run.dir / "report" / "index.html", "training");
}

}  // namespace
}  // namespace agegate

namespace agegate {
namespace {

// Run folders are usually given relative to the working folder (runs/x);
// gnuplot runs in the chart folder, so the paths must still resolve.
TEST(ChartTest, DrawsIntoARelativeFolder) {
  namespace fs = std::filesystem;
  fs::path base = testing::scratch_dir("rel");
  fs::path old = fs::current_path();
  fs::current_path(base);
  ChartOptions o;
  o.svg = false;
  EXPECT_NO_THROW(draw_chart("charts", "line", "plot x notitle", o));
  fs::current_path(old);
  EXPECT_TRUE(fs::exists(base / "charts" / "line.png"));
}

}  // namespace
}  // namespace agegate
