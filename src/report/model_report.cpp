// Training and evaluation reports (see model_report.h).
#include "agegate/report/model_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <tuple>
#include <map>
#include <sstream>

#include "agegate/core/error.h"
#include "agegate/core/format.h"
#include "agegate/core/fs.h"
#include "agegate/core/log.h"
#include "agegate/core/progress.h"
#include "agegate/data/image.h"
#include "agegate/data/labels.h"
#include "agegate/eval/groups.h"
#include "agegate/model/training_record.h"
#include "agegate/report/html.h"
#include "thumbnail.h"

namespace agegate {
namespace fs = std::filesystem;

namespace {
constexpr const char* kChartsFolder = "charts";
constexpr const char* kPhotosFolder = "photos";

double abs_error(const PredictionRow& r) { return std::fabs(r.pred_age - r.real_age); }

std::string chart_path(const std::string& name) {
  return std::string(kChartsFolder) + "/" + name;
}

void add_chart(HtmlPage& page, ModelReportSummary& s, const std::string& name,
               const std::string& caption, const ChartOptions& o) {
  page.figure(chart_path(name) + ".png", caption, caption, o.svg ? chart_path(name) + ".svg" : "");
  s.charts.push_back(chart_path(name) + ".png");
}

// Loss, MAE and learning rate per epoch, best epoch marked.
void training_charts(HtmlPage& page, ModelReportSummary& s, const std::vector<EpochRecord>& m,
                     int best_epoch, const fs::path& charts, const ChartOptions& o) {
  std::ostringstream dat;
  dat << "#";
  for (const auto& c : metrics_csv_columns()) dat << ' ' << c;
  dat << " (space separated)\n";
  bool lr_positive = true;
  for (auto& e : m) {
    dat << e.epoch << ' ' << e.train_loss << ' ' << e.train_mae << ' ' << e.val_loss << ' '
        << e.val_mae << ' ' << e.lr << ' ' << e.seconds << ' ' << e.images_per_s << '\n';
    lr_positive = lr_positive && e.lr > 0;
  }
  write_file_atomic(charts / "metrics.dat", dat.str());
  std::string best_mark;
  if (best_epoch > 0) {
    best_mark = "set arrow from " + std::to_string(best_epoch) + ", graph 0 to " +
                std::to_string(best_epoch) + ", graph 1 nohead dt 2 lw 2 lc rgb '#2ca02c'\n" +
                "set label 'best epoch " + std::to_string(best_epoch) + "' at " +
                std::to_string(best_epoch) + ", graph 0.95 left offset 0.5,0 tc rgb '#2ca02c'\n";
  }
  const std::string common = "set xlabel 'epoch'\nset grid\nset key top right\nset xtics 1\n"
                             "set xrange [0.5:" + std::to_string(m.back().epoch) + ".5]\n" +
                             best_mark;
  draw_chart(charts, "loss",
             "set title 'Loss per epoch'\nset ylabel 'loss'\n" + common +
                 "plot 'metrics.dat' using 1:2 with linespoints lw 2 title 'training', "
                 "'metrics.dat' using 1:4 with linespoints lw 2 title 'validation'\n",
             o);
  add_chart(page, s, "loss", "Training and validation loss per epoch", o);
  draw_chart(charts, "mae",
             "set title 'Mean absolute error per epoch'\nset ylabel 'MAE (years)'\n" + common +
                 "plot 'metrics.dat' using 1:3 with linespoints lw 2 title 'training', "
                 "'metrics.dat' using 1:5 with linespoints lw 2 title 'validation'\n",
             o);
  add_chart(page, s, "mae", "Training and validation MAE per epoch (years)", o);
  draw_chart(charts, "lr",
             "set title 'Learning rate'\nset ylabel 'learning rate'\n" + common +
                 (lr_positive ? "set logscale y\n" : "") +
                 "plot 'metrics.dat' using 1:6 with linespoints lw 2 title 'learning rate'\n",
             o);
  add_chart(page, s, "lr", "Learning rate per epoch", o);
}

// Scatter, MAE by band, error histogram.
void prediction_charts(HtmlPage& page, ModelReportSummary& s,
                       const std::vector<PredictionRow>& p, const fs::path& charts,
                       const ChartOptions& o) {
  std::ostringstream dat;
  dat << "# real_age pred_age low high\n";
  double top = 0;
  for (auto& r : p) {
    dat << r.real_age << ' ' << r.pred_age << ' ' << r.low << ' ' << r.high << '\n';
    top = std::max({top, static_cast<double>(r.real_age), r.pred_age});
  }
  write_file_atomic(charts / "scatter.dat", dat.str());
  const std::string range = std::to_string(static_cast<int>(std::ceil(top / 10.0) * 10));
  draw_chart(charts, "scatter",
             "set title 'Predicted vs true age'\nset xlabel 'true age'\nset ylabel 'predicted age'\n"
             "set grid\nset size ratio -1\nset key top left\nset xrange [0:" + range +
                 "]\nset yrange [0:" + range + "]\n"
                 "plot x with lines dt 2 lc rgb '#444444' title 'perfect', "
                 "'scatter.dat' using 1:2 with points pt 7 ps 0.5 lc rgb '#1f77b4' title 'photos'\n",
             o);
  add_chart(page, s, "scatter", "Predicted against true age; the dashed line is a perfect model", o);

  std::ostringstream bands;
  bands << "# index band mae count\n";
  for (size_t i = 0; i < s.bands.size(); ++i) {
    bands << i << " \"" << s.bands[i].name << "\" " << (s.bands[i].count ? s.bands[i].mae : 0.0) << ' ' << s.bands[i].count
          << '\n';
  }
  write_file_atomic(charts / "mae_by_band.dat", bands.str());
  draw_chart(charts, "mae_by_band",
             "set title 'MAE by true-age band'\nset ylabel 'MAE (years)'\nset xlabel 'true age'\n"
             "set style fill solid 0.8 border -1\nset boxwidth 0.7\nset grid ytics\n"
             "set yrange [0:*]\nset xrange [-0.6:" + std::to_string(s.bands.size()) + "-0.4]\n"
             "plot 'mae_by_band.dat' using 1:($4>0?$3:1/0):xtic(2) with boxes lc rgb '#1f77b4' notitle, "
             "'' using 1:($4>0?$3:1/0):(sprintf('%.1f (n=%d)',$3,$4)) with labels offset 0,0.8 notitle\n",
             o);
  add_chart(page, s, "mae_by_band", "Mean absolute error by true-age band", o);

  std::map<int, int> hist;
  for (auto& r : p) ++hist[static_cast<int>(std::lround(r.pred_age - r.real_age))];
  std::ostringstream h;
  h << "# error_years count   (error = predicted - true, rounded)\n";
  for (int e = hist.begin()->first; e <= hist.rbegin()->first; ++e) {
    auto it = hist.find(e);
    h << e << ' ' << (it == hist.end() ? 0 : it->second) << '\n';
  }
  write_file_atomic(charts / "error_hist.dat", h.str());
  draw_chart(charts, "error_hist",
             "set title 'Prediction error'\nset xlabel 'predicted - true age (years)'\n"
             "set ylabel 'photos'\nset style fill solid 0.8 border -1\nset boxwidth 0.9\n"
             "set grid ytics\nset yrange [0:*]\n"
             "set arrow from 0, graph 0 to 0, graph 1 nohead dt 2 lc rgb '#444444'\n"
             "plot 'error_hist.dat' using 1:2 with boxes lc rgb '#ff7f0e' notitle\n",
             o);
  add_chart(page, s, "error_hist", "Distribution of the prediction error (years)", o);
}

// A rate for gnuplot: "?" (missing point) when the group was empty (null).
std::string rate_or_missing(const nlohmann::json& row, const char* key) {
  auto it = row.find(key);
  if (it == row.end() || !it->is_number()) return "?";
  return format_number("%.6f", it->get<double>());
}

void policy_chart(HtmlPage& page, ModelReportSummary& s, const nlohmann::json& curve,
                  const fs::path& charts, const ChartOptions& o) {
  std::ostringstream dat;
  dat << "# challenge_age minors_13_17_pass_rate adults_25plus_check_rate\n";
  for (auto& row : curve) {
    if (!row.is_object() || !row.contains("challenge_age")) {
      throw InvalidInput("policy_curve row without challenge_age: " + row.dump());
    }
    dat << row["challenge_age"].get<double>() << ' '
        << rate_or_missing(row, "minors_13_17_pass_rate") << ' '
        << rate_or_missing(row, "adults_25plus_check_rate") << '\n';
  }
  write_file_atomic(charts / "policy.dat", dat.str());
  draw_chart(charts, "policy",
             "set title 'Policy trade-off'\nset xlabel 'challenge age'\nset ylabel 'share'\n"
             "set grid\nset key center right\nset yrange [0:1]\nset datafile missing '?'\n"
             "plot 'policy.dat' using 1:2 with linespoints lw 2 title 'minors 13-17 passed without check', "
             "'policy.dat' using 1:3 with linespoints lw 2 title 'adults 25+ asked for ID'\n",
             o);
  add_chart(page, s, "policy",
            "Share of 13-17 year olds passed without a check and of adults 25+ asked for ID, by "
            "challenge age",
            o);
}

// One bar chart of a measure by group, with its 95% interval, and optionally
// a second series (the age-standardised figure) beside it. Small cells are
// left out of the bars and say so in their axis label.
struct GroupSeries {
  std::string title;
  std::function<MeanCell(const GroupCell&)> cell;
};

void group_chart(HtmlPage& page, ModelReportSummary& s, const GroupFigures& g, const std::string& name,
                 const std::string& title, const std::string& ylabel, double scale,
                 const std::vector<GroupSeries>& series, const std::string& caption, const fs::path& charts,
                 const ChartOptions& o) {
  std::ostringstream dat;
  dat << "# index label";
  for (size_t k = 0; k < series.size(); ++k) dat << " value" << k << " low" << k << " high" << k << " note_y" << k << " note" << k;
  dat << "   (values x" << scale << "; ? = too few photos to show)\n";
  int i = 0;
  double top = 0;
  for (const auto& c : g.columns) {
    for (const auto& cell : c.groups) {
      dat << i++ << ' ' << gnuplot_data_label(c.column + ": " + cell.group);
      for (const auto& ser : series) {
        const MeanCell m = ser.cell(cell);
        const bool shown = !m.small && std::isfinite(m.value);
        if (shown) top = std::max(top, m.high * scale);
        dat << ' ' << gnuplot_value(shown ? m.value * scale : NAN) << ' ' << gnuplot_value(shown ? m.low * scale : NAN)
            << ' ' << gnuplot_value(shown ? m.high * scale : NAN) << ' ' << gnuplot_value(shown ? m.high * scale : 0.0)
            << ' ' << gnuplot_data_label(m.small ? "too few (" + std::to_string(m.count) + ")"
                                  : shown ? "n=" + std::to_string(m.count)
                                          : "n/a");
      }
      dat << '\n';
    }
    ++i;  // a gap between columns
  }
  write_file_atomic(charts / (name + ".dat"), dat.str());
  const double width = 0.8 / static_cast<double>(series.size());
  const char* colours[] = {"#1f77b4", "#ff7f0e"};
  std::string plot = "plot '" + name + ".dat' using 1:(1/0):xtic(2) notitle";
  for (size_t k = 0; k < series.size(); ++k) {
    const std::string x = "($1" + format_number("%+.3f", (static_cast<double>(k) - (series.size() - 1) / 2.0) * width) + ")";
    const int v = 3 + 5 * static_cast<int>(k);
    const std::string value = std::to_string(v), low = std::to_string(v + 1), high = std::to_string(v + 2),
                      note_y = std::to_string(v + 3), note = std::to_string(v + 4);
    plot += ", '' using " + x + ":" + value + " with boxes lc rgb '" + colours[k % 2] + "' title " +
            gnuplot_quote(series[k].title) + ", '' using " + x + ":" + value + ":" + low + ":" + high +
            " with yerrorbars lc rgb '#333333' pt -1 notitle" + ", '' using " + x + ":" + note_y + ":" + note +
            " with labels rotate by 90 left offset 0,0.4 font ',7' notitle";
  }
  draw_chart(charts, name,
             "set title " + gnuplot_quote(title) + "\nset ylabel " + gnuplot_quote(ylabel) +
                 "\nset datafile missing '?'\nset style fill solid 0.8 border -1\nset boxwidth " +
                 format_number("%.3f", width) + "\nset grid ytics\nset yrange [0:" +
                 format_number("%.3g", std::max(top, 1.0) * 1.3) + "]\nset xrange [-0.7:" + std::to_string(i - 1) +
                 "-0.3]\nset xtics rotate by -30 font ',8'\nset key top left horizontal\n" + plot + "\n",
             o);
  add_chart(page, s, name, caption, o);
}

// Error and decision rates by group (eval/groups.h), from the JSON the
// evaluation or the run wrote: tables, charts with intervals, conclusions.
void groups_section(HtmlPage& page, ModelReportSummary& s, const nlohmann::json& json, const std::string& part,
                    const fs::path& charts, const ChartOptions& o) {
  const GroupFigures g = GroupFigures::from_json(json);
  page.heading("Fairness: error and decision rates by group");
  page.paragraph("On " + part + ", by the groups of " + g.source.string() + " (" + std::to_string(g.matched) + " of " +
                 std::to_string(g.photos) + " photos annotated). Cells with fewer than " +
                 std::to_string(g.options.min_count) +
                 " photos are shown as too few to measure. Intervals are 95%; a gap's interval is adjusted for the "
                 "number of pairs compared. \"Everyone's age mix\" weights each group's figures by age as all photos "
                 "are weighted, so the part of a gap that age explains is taken out. The annotations are the data "
                 "set's own; they are never a model input.");
  page.heading("Conclusions (computed from the figures)", 3);
  page.list(g.conclusions);
  auto mae = [](const GroupCell& c) { return c.mae; };
  auto mae_std = [](const GroupCell& c) { return c.mae_age_standardised; };
  auto as_mean = [](const RateCell& r) {
    MeanCell m;
    m.count = r.rate.count;
    m.small = r.small;
    m.value = r.rate.rate();
    std::tie(m.low, m.high) = r.rate.interval95();
    return m;
  };
  group_chart(page, s, g, "groups_mae", "MAE by group", "MAE (years)", 1.0,
              {{"MAE", mae}, {"at everyone's age mix", mae_std}},
              "Mean absolute error by group, as measured and at everyone's age mix, with 95% intervals", charts, o);
  group_chart(page, s, g, "groups_asked", "Aged 25+ asked for ID, by group", "% of people aged 25+", 100.0,
              {{"asked for ID", [&](const GroupCell& c) { return as_mean(c.adults_25plus_check); }},
               {"at everyone's age mix", [](const GroupCell& c) { return c.adults_25plus_check_age_standardised; }}},
              "Share of people aged 25+ asked for ID by group, with 95% intervals", charts, o);
  group_chart(page, s, g, "groups_minors", "Minors passing without an ID check, by group", "% passing", 100.0,
              {{"aged 13-17", [&](const GroupCell& c) { return as_mean(c.minors_13_17_pass); }},
               {"under " + std::to_string(g.policy.legal_age), [&](const GroupCell& c) { return as_mean(c.under_legal_pass); }}},
              "Share of 13-17-year-olds and of everyone under the legal age passing without an ID check, by group, "
              "with 95% Wilson intervals",
              charts, o);
  for (const auto& t : g.tables()) page.table(t.header, t.rows, t.title);
}

void worst_gallery(HtmlPage& page, const std::vector<PredictionRow>& worst,
                   const fs::path& data_dir, const fs::path& photos, int thumb) {
  std::vector<HtmlPage::Tile> tiles;
  std::vector<std::vector<std::string>> rows;
  Progress progress("report: worst predictions", static_cast<int64_t>(worst.size()), "photos");
  for (size_t i = 0; i < worst.size(); ++i) {
    progress.update(static_cast<int64_t>(i));
    const auto& r = worst[i];
    std::vector<std::string> lines = {
        r.file_name, "true " + format_number("%.0f", r.real_age) + ", predicted " + format_number("%.1f", r.pred_age),
        "interval " + format_number("%.1f", r.low) + "-" + format_number("%.1f", r.high),
        "error " + format_number("%+.1f", r.pred_age - r.real_age)};
    rows.push_back({std::to_string(i + 1), r.file_name, format_number("%.0f", r.real_age),
                    format_number("%.1f", r.pred_age), format_number("%.1f", r.low) + "-" + format_number("%.1f", r.high),
                    format_number("%.1f", abs_error(r))});
    std::string thumb_name = report_detail::safe_file_name(std::to_string(i) + "-", r.file_name) + ".jpg";
    try {
      Image img = read_image(data_dir / kPhotoFolder / r.file_name);
      report_detail::write_thumbnail(img, thumb, photos / thumb_name);
      tiles.push_back({std::string(kPhotosFolder) + "/" + thumb_name, lines, true});
    } catch (const InvalidInput& e) {
      log().warn("report: photo {} not shown: {}", r.file_name, e.what());
    } catch (const IoError& e) {
      log().warn("report: photo {} not shown: {}", r.file_name, e.what());
    }
  }
  progress.finish();
  page.table({"rank", "file", "true age", "predicted", "interval", "|error|"}, rows);
  if (tiles.size() < worst.size()) {
    page.paragraph(std::to_string(worst.size() - tiles.size()) +
                   " of these photos could not be read from " + (data_dir / kPhotoFolder).string() +
                   " and are not shown.");
  }
  page.gallery(tiles);
}

// "31.6% (247 of 781; 95% CI 28.5-35.0%)" from a figures object's rate,
// counts and interval (keys named after the group measure, eval/groups.h);
// "" when the rate is absent.
std::string rate_in_words(const nlohmann::json& m, GroupMeasure measure) {
  const std::string key = to_string(measure);
  const nlohmann::json& rate = m.value(key + "_rate", nlohmann::json());
  if (!rate.is_number()) return "";
  std::vector<std::string> parts;
  const nlohmann::json& counts = m.value("counts", nlohmann::json::object());
  const std::string whole = key.substr(0, key.rfind('_'));  // adults_25plus_check -> adults_25plus
  if (counts.is_object() && counts.value(key, nlohmann::json()).is_number_integer() &&
      counts.value(whole, nlohmann::json()).is_number_integer()) {
    parts.push_back(counts[key].dump() + " of " + counts[whole].dump());
  }
  const nlohmann::json& ci = m.value(key + "_ci95", nlohmann::json());
  if (ci.is_array() && ci.size() == 2 && ci[0].is_number() && ci[1].is_number()) {
    parts.push_back("95% CI " + format_number("%.1f", ci[0].get<double>() * 100) + "-" +
                    format_percent(ci[1].get<double>()));
  }
  std::string text = format_percent(rate.get<double>());
  for (size_t i = 0; i < parts.size(); ++i) text += (i == 0 ? " (" : "; ") + parts[i];
  return parts.empty() ? text : text + ")";
}

// The final model's figures in the reader's words ("aged 25+ asked for ID
// 31.6% (247 of 781; 95% CI 28.5-35.0%)"); a scalar this table does not
// know keeps its key, so nothing measured is left out.
void metrics_table(HtmlPage& page, const nlohmann::json& m) {
  const nlohmann::json& policy = m.value("policy", nlohmann::json::object());
  Policy p;
  try {
    if (policy.is_object() && !policy.empty()) p = Policy::from_json(policy);
  } catch (const Error&) {  // a hand-edited run.json: the default policy's words
  }
  const std::string legal = std::to_string(p.legal_age);
  const std::string level = format_percent(m.value("interval_level", 0.9), 0);
  auto years = [&](const char* key, const char* format) {
    const nlohmann::json& v = m.value(key, nlohmann::json());
    return v.is_number() ? format_number(format, v.get<double>()) + " years" : std::string();
  };
  auto share = [&](const char* key) {
    const nlohmann::json& v = m.value(key, nlohmann::json());
    return v.is_number() ? format_percent(v.get<double>()) : std::string();
  };
  const std::vector<std::pair<std::string, std::string>> known = {
      {"photos", m.value("count", nlohmann::json()).is_number() ? m["count"].dump() : ""},
      {"mean absolute error", years("mae", "%.2f")},
      {"bias (estimate minus real age)", years("bias", "%+.2f")},
      {"within 5 years of the real age", share("within5")},
      {"the " + level + " interval holds the real age", share("coverage")},
      {"mean width of the " + level + " interval", years("mean_interval_width", "%.1f")}};
  std::vector<std::string> shown = {"count", "mae", "bias", "within5", "coverage", "interval_level",
                                    "mean_interval_width", "policy", "counts"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& [label, value] : known) {
    if (!value.empty()) rows.push_back({label, value});
  }
  for (GroupMeasure g : kGroupMeasures) {  // the decision rates, as the tables by group name them
    if (!is_rate(g)) continue;
    const std::string value = rate_in_words(m, g);
    if (!value.empty()) rows.push_back({display_name(g, p), value});
    shown.push_back(std::string(to_string(g)) + "_rate");
    shown.push_back(std::string(to_string(g)) + "_ci95");
  }
  if (policy.is_object() && !policy.empty()) {
    rows.push_back({"policy", "challenge age " + std::to_string(p.challenge_age) + ", at most " +
                                  format_percent(p.max_risk) + " risk of being under " + legal});
  }
  for (auto& [key, value] : m.items()) {
    if (std::find(shown.begin(), shown.end(), key) != shown.end()) continue;
    if (value.is_number_float()) rows.push_back({key, format_number("%.4g", value.get<double>())});
    else if (value.is_number() || value.is_string() || value.is_boolean())
      rows.push_back({key, value.is_string() ? value.get<std::string>() : value.dump()});
  }
  if (!rows.empty()) page.table({"measure", "value"}, rows);
}

// The MAE overall and by band as the run's JSON has them: computed at full
// precision, where the predictions CSV keeps two decimals (which can move a
// mean's last digit). The counts must agree with the CSV's.
void take_figures_from(const nlohmann::json& figures, ModelReportSummary& s, size_t rows) {
  if (!figures.is_object() || !figures.contains("mae") || !figures["mae"].is_number() ||
      !figures.contains("mae_by_band") || !figures["mae_by_band"].is_object()) {
    return;
  }
  if (figures.value("count", int64_t(-1)) != static_cast<int64_t>(rows)) {
    throw InvalidInput("the figures count " + figures.value("count", nlohmann::json()).dump() +
                       " photos but the predictions CSV has " + std::to_string(rows));
  }
  s.mae = figures["mae"].get<double>();
  for (auto& b : s.bands) {
    const nlohmann::json& j = figures["mae_by_band"].value(b.name, nlohmann::json());
    if (!j.is_object() || j.value("count", int64_t(-1)) != b.count) {
      throw InvalidInput("the figures and the predictions CSV disagree on band " + b.name);
    }
    if (j["mae"].is_number()) b.mae = j["mae"].get<double>();
    if (j.contains("coverage") && j["coverage"].is_number()) b.coverage = j["coverage"].get<double>();
  }
}

// Shared body of both reports after the training-specific part. `figures`
// (the run's or evaluation's JSON, may be null) supplies the MAE overall and
// by band, so the page shows the numbers the JSON holds; the charts are
// drawn from the CSV.
ModelReportSummary prediction_section(HtmlPage& page, ModelReportSummary s,
                                      const std::vector<PredictionRow>& p, const nlohmann::json& figures,
                                      const fs::path& data_dir, const fs::path& out_dir,
                                      const ReportOptions& o, const std::string& title = "Predictions") {
  if (p.empty()) throw InvalidInput("no predictions to report");
  const fs::path charts = out_dir / kChartsFolder;
  const fs::path photos = out_dir / kPhotosFolder;
  std::error_code ec;
  fs::remove_all(photos, ec);
  fs::create_directories(photos, ec);
  if (ec) throw IoError("cannot create " + photos.string() + ": " + ec.message());

  double sum = 0;
  for (auto& r : p) sum += abs_error(r);
  s.mae = sum / static_cast<double>(p.size());
  s.bands = summarise_bands(p);
  take_figures_from(figures, s, p.size());
  page.heading(title);
  page.paragraph(std::to_string(p.size()) + " photos, mean absolute error " + format_number("%.2f", s.mae) +
                 " years.");
  prediction_charts(page, s, p, charts, o.charts);
  std::vector<std::vector<std::string>> band_rows;
  for (auto& b : s.bands) {
    band_rows.push_back({b.name, std::to_string(b.count), format_number("%.2f", b.mae)});
  }
  page.table({"true age", "photos", "MAE (years)"}, band_rows);

  std::vector<PredictionRow> sorted = p;
  std::stable_sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) {
    return abs_error(a) > abs_error(b);
  });
  sorted.resize(std::min(sorted.size(), static_cast<size_t>(std::max(o.worst_count, 0))));
  s.worst = sorted;
  page.heading("Worst predictions");
  worst_gallery(page, s.worst, data_dir, photos, o.thumb_size);
  return s;
}

void check_options(const ReportOptions& o) {
  if (o.worst_count < 0) throw InvalidInput("worst_count must be >= 0");
  if (o.thumb_size < 16) throw InvalidInput("thumbnail size must be >= 16 pixels");
}

// run.json's training record. Runs written before the record kept its facts
// at the top level (best_epoch, data_dir, options, val_metrics, ...): those
// are read into the record too.
TrainingRecord read_run_record(const fs::path& run_dir) {
  const std::string where = (run_dir / "run.json").string();
  nlohmann::json run;
  try {
    run = nlohmann::json::parse(read_file(run_dir / "run.json"));
  } catch (const nlohmann::json::exception& e) {
    throw InvalidInput(where + ": " + e.what());
  }
  if (run.is_object() && run.contains("best_epoch") && !run.contains("training")) {
    nlohmann::json legacy = {{"training", {{"best_epoch", run["best_epoch"]}}}, {"metrics", nlohmann::json::object()},
                             {"groups", nlohmann::json::object()}};
    if (run.contains("options")) legacy["training"]["options"] = run["options"];
    if (run.contains("data_dir")) legacy["data"] = {{"dir", run["data_dir"]}};
    for (const auto& [from, to] : {std::pair{"val_metrics", "metrics"}, {"test_metrics", "metrics"},
                                   {"val_groups", "groups"}, {"test_groups", "groups"}}) {
      const std::string part = std::string(from).rfind("val", 0) == 0 ? "validation" : "test";
      if (run.contains(from) && !run[from].is_null()) legacy[to][part] = run[from];
    }
    run = std::move(legacy);
  }
  TrainingRecord rec = TrainingRecord::from_json(run, where);
  if (!rec.training || !rec.training->best_epoch) throw InvalidInput(where + ": key 'training.best_epoch' is missing");
  if (rec.data.dir.empty()) throw InvalidInput(where + ": key 'data.dir' is missing");
  return rec;
}

// The final model's figures: the held-out test part first when there is one.
void final_metrics_section(HtmlPage& page, const TrainingRecord& rec, bool held_out) {
  if (held_out) {
    page.heading("Held-out test metrics of the final model");
    page.paragraph("Measured once on photos that chose nothing: neither the best epoch nor the calibration.");
    metrics_table(page, *rec.metrics.test);
  }
  page.heading("Validation metrics of the final model");
  if (held_out) {
    page.paragraph("These photos chose the best epoch and fitted the temperature, so these figures flatter the model.");
  }
  if (rec.metrics.validation) metrics_table(page, *rec.metrics.validation);
}

}  // namespace

ModelReportSummary write_training_report(const fs::path& run_dir, const ReportOptions& options) {
  check_options(options);
  const fs::path out_dir = run_dir / "report";
  const TrainingRecord rec = read_run_record(run_dir);
  auto metrics = read_metrics_csv(run_dir / kMetricsFile);
  if (metrics.empty()) throw InvalidInput((run_dir / "metrics.csv").string() + " has no epochs");
  // The held-out test part gives the headline figures when the run has one;
  // runs from before it fall back to the validation photos.
  const bool held_out = rec.metrics.test.has_value() && fs::exists(run_dir / "predictions_test.csv");
  auto predictions = read_predictions_csv(run_dir / (held_out ? "predictions_test.csv" : "predictions_val.csv"));

  ModelReportSummary s;
  s.best_epoch = *rec.training->best_epoch;
  create_folder(out_dir / kChartsFolder);
  HtmlPage page("Training report: " + fs::absolute(run_dir).filename().string());
  page.paragraph("Run folder: " + fs::absolute(run_dir).string() + "; data: " + rec.data.dir);
  final_metrics_section(page, rec, held_out);
  page.heading("Training curves");
  auto best = std::find_if(metrics.begin(), metrics.end(),
                           [&](auto& m) { return m.epoch == s.best_epoch; });
  page.paragraph(best == metrics.end()
                     ? "Best epoch " + std::to_string(s.best_epoch) + " (not in metrics.csv)."
                     : "Best epoch " + std::to_string(s.best_epoch) + ": validation MAE " +
                           format_number("%.2f", best->val_mae) + " years, of " +
                           std::to_string(metrics.size()) + " epochs run.");
  training_charts(page, s, metrics, s.best_epoch, out_dir / kChartsFolder, options.charts);
  std::vector<std::vector<std::string>> rows;
  for (auto& m : metrics) {
    rows.push_back({std::to_string(m.epoch) + (m.epoch == s.best_epoch ? " (best)" : ""),
                    format_number("%.4f", m.train_loss), format_number("%.2f", m.train_mae), format_number("%.4f", m.val_loss),
                    format_number("%.2f", m.val_mae), format_number("%.3g", m.lr), format_number("%.0f", m.seconds),
                    format_number("%.1f", m.images_per_s)});
  }
  page.table({"epoch", "train loss", "train MAE", "val loss", "val MAE", "lr", "seconds", "img/s"},
             rows);
  const RecordPart part = held_out ? RecordPart::kTest : RecordPart::kValidation;
  const nlohmann::json figures = rec.metrics[part].value_or(nlohmann::json());
  s = prediction_section(page, s, predictions, figures, rec.data.dir, out_dir, options,
                         held_out ? "Predictions on the held-out test photos" : "Predictions on the validation photos");
  if (rec.groups[part]) {
    groups_section(page, s, *rec.groups[part], held_out ? "the held-out test photos" : "the validation photos",
                   out_dir / kChartsFolder, options.charts);
  }
  if (!rec.training->options.empty()) {
    page.heading("Options");
    std::vector<std::vector<std::string>> opt_rows;
    for (auto& [k, v] : rec.training->options.items()) opt_rows.push_back({k, v.is_string() ? v.get<std::string>() : v.dump()});
    page.table({"option", "value"}, opt_rows);
  }
  s.index_html = out_dir / "index.html";
  write_file_atomic(s.index_html, page.str());
  return s;
}

ModelReportSummary write_evaluation_report(const fs::path& predictions_csv,
                                           const fs::path& data_dir,
                                           const nlohmann::json& summary,
                                           const fs::path& out_dir,
                                           const ReportOptions& options) {
  check_options(options);
  auto predictions = read_predictions_csv(predictions_csv);
  ModelReportSummary s;
  create_folder(out_dir / kChartsFolder);
  HtmlPage page("Evaluation report: " + fs::absolute(data_dir).filename().string());
  page.paragraph("Predictions: " + fs::absolute(predictions_csv).string() + "; data: " +
                 fs::absolute(data_dir).string());
  if (summary.is_object()) {
    page.heading("Metrics");
    metrics_table(page, summary);
  }
  s = prediction_section(page, s, predictions, summary, data_dir, out_dir, options);
  if (summary.is_object() && summary.contains("policy_curve") && summary["policy_curve"].is_array() &&
      !summary["policy_curve"].empty()) {
    page.heading("Policy trade-off");
    policy_chart(page, s, summary["policy_curve"], out_dir / kChartsFolder, options.charts);
  }
  if (summary.is_object() && summary.contains("groups") && summary["groups"].is_object()) {
    groups_section(page, s, summary["groups"], "the photos evaluated", out_dir / kChartsFolder, options.charts);
  }
  s.index_html = out_dir / "index.html";
  write_file_atomic(s.index_html, page.str());
  return s;
}

}  // namespace agegate
