// The purchase insights as an HTML page with charts, JSON and the
// recommendations file; see insights/insights.h.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "agegate/core/format.h"
#include "agegate/core/fs.h"
#include "agegate/core/numeric.h"
#include "agegate/core/run_info.h"
#include "agegate/insights/insights.h"
#include "agegate/report/html.h"

namespace agegate {
namespace fs = std::filesystem;
namespace {

constexpr const char* kCharts = "charts";
constexpr size_t kCategoriesShown = 10;  // over-indexed categories listed per band

std::string lift_text(const Lift& l) {
  return format_number("%.2f", l.lift) + " (" + format_number("%.2f", l.low) + "-" + format_number("%.2f", l.high) + ")";
}
// A gnuplot string for an explicit tic label: '%' would be read as a format.
std::string tic(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '%' ? std::string("%%") : std::string(1, c);
  return gnuplot_quote(out);
}

std::string allows_restricted_text(const AgeBand& band, int challenge_age) {
  return band.low >= challenge_age ? "" : " (below the challenge age: no restricted goods)";
}

void add_chart(HtmlPage& page, const std::string& name, const std::string& caption, const ChartOptions& charts) {
  page.chart(kCharts, name, caption, charts.svg);
}

// Lift by band x department: colour log2(lift), the value written in each cell.
void heat_chart(const InsightsResult& r, const fs::path& dir, const ChartOptions& o) {
  std::ostringstream d, labels;
  d << "# band department log2_lift lift supported\n";
  std::string xt, yt;
  for (size_t b = 0; b < r.bands.size(); ++b) xt += (b ? ", " : "") + tic(r.bands[b].band.name) + " " + std::to_string(b);
  for (size_t k = 0; k < r.heat_departments.size(); ++k) {
    yt += (k ? ", " : "") + tic(r.heat_departments[k]) + " " + std::to_string(k);
  }
  for (size_t k = 0; k < r.heat_departments.size(); ++k) {
    for (size_t b = 0; b < r.bands.size(); ++b) {
      const Lift* l = nullptr;
      for (const auto& x : r.bands[b].departments) {
        if (x.name == r.heat_departments[k]) l = &x;
      }
      const double lift = l ? l->lift : 0;
      const double v = lift > 0 ? std::clamp(std::log2(lift), -1.0, 1.0) : -1.0;
      d << b << ' ' << k << ' ' << gnuplot_value(v) << ' ' << gnuplot_value(lift) << ' ' << (l && l->supported ? 1 : 0) << '\n';
    }
    d << '\n';
  }
  write_file_atomic(dir / "heatmap.dat", d.str());
  ChartOptions tall = o;
  tall.height = std::max(o.height, 140 + 26 * static_cast<int>(r.heat_departments.size()));
  draw_chart(dir, "heatmap",
             "set xtics (" + xt + ") noenhanced\nset ytics (" + yt + ") noenhanced\nset yrange [-0.5:" +
                 std::to_string(r.heat_departments.size()) + "-0.5] reverse\nset xrange [-0.5:" +
                 std::to_string(r.bands.size()) + "-0.5]\nset cbrange [-1:1]\n"
                 "set palette defined (-1 '#2166ac', 0 '#f7f7f7', 1 '#b2182b')\n"
                 "set cbtics ('0.5' -1, '0.71' -0.5, '1' 0, '1.41' 0.5, '2' 1)\nset cblabel 'lift (log scale)'\n"
                 "set xlabel 'age band'\nunset key\n"
                 "plot 'heatmap.dat' using 1:2:3 with image, "
                 "'' using 1:2:($5==1?sprintf('%.2f',$4):sprintf('(%.2f)',$4)) with labels font ',8'",
             tall);
}

// Each band's recommendations: lift with its 95% interval and, with estimated
// bands, the 5th-95th percentile range.
void recommendations_chart(const InsightsResult& r, const fs::path& dir, const ChartOptions& o) {
  std::ostringstream d;
  d << "# index label lift low high est_median est_p05 est_p95\n";
  int i = 0;
  for (const auto& b : r.bands) {
    for (size_t j = 0; j < b.ranked.size() && j < static_cast<size_t>(r.options.top_k); ++j) {
      const Recommendation& rec = b.ranked[j];
      d << i++ << " \"" << b.band.name << ": " << rec.lift.name << "\" " << gnuplot_value(rec.lift.lift) << ' '
        << gnuplot_value(rec.lift.low) << ' ' << gnuplot_value(rec.lift.high) << ' '
        << gnuplot_value(rec.kept ? rec.estimated_lift.p50 : std::nan("")) << ' '
        << gnuplot_value(rec.kept ? rec.estimated_lift.p05 : std::nan("")) << ' '
        << gnuplot_value(rec.kept ? rec.estimated_lift.p95 : std::nan("")) << '\n';
    }
    i++;  // a gap between bands
  }
  write_file_atomic(dir / "recommendations.dat", d.str());
  ChartOptions wide = o;
  wide.width = std::max(o.width, 60 + 34 * i);
  wide.height = o.height + 180;
  draw_chart(dir, "recommendations",
             "set ylabel 'lift = P(category | band) / P(category)'\nset logscale y\nset yrange [0.4:*]\nset rmargin 10\nset grid ytics\n"
             "set xtics rotate by -60 font ',8' noenhanced\nset key top right\nset offsets 0.5, 0.5, 0, 0\n"
             "set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb 'gray40'\n"
             "plot 'recommendations.dat' using 1:3:4:5:xtic(stringcolumn(2)) with yerrorbars pt 7 lc rgb '#1f77b4' "
             "title 'known bands, 95% interval', "
             "'' using ($1+0.25):6:7:8 with yerrorbars pt 6 lc rgb '#d62728' title 'bands estimated by the camera: "
             "median, 5-95th percentile'",
             wide);
}

void restricted_chart(const InsightsResult& r, const fs::path& dir, const ChartOptions& o) {
  std::ostringstream d;
  d << "# index band share low high est_median est_p05 est_p95\n";
  for (size_t b = 0; b < r.bands.size(); ++b) {
    const auto& x = r.bands[b];
    if (x.baskets == 0) continue;
    d << b << " \"" << x.band.name << "\" " << gnuplot_value(x.restricted_share()) << ' ' << gnuplot_value(x.restricted_low) << ' '
      << gnuplot_value(x.restricted_high) << ' ' << gnuplot_value(x.restricted_estimated ? x.restricted_estimated->p50 : std::nan(""))
      << ' ' << gnuplot_value(x.restricted_estimated ? x.restricted_estimated->p05 : std::nan("")) << ' '
      << gnuplot_value(x.restricted_estimated ? x.restricted_estimated->p95 : std::nan("")) << '\n';
  }
  write_file_atomic(dir / "restricted.dat", d.str());
  draw_chart(dir, "restricted",
             "set ylabel 'share of the band spend on beer, wine and spirits'\nset grid ytics\nset yrange [0:*]\n"
             "set style fill solid 0.5\nset boxwidth 0.5\nset key top right\nset offsets 0.5, 0.5, 0, 0\n"
             "plot 'restricted.dat' using 1:3:xtic(2) with boxes lc rgb '#9467bd' title 'known bands', "
             "'' using 1:3:4:5 with yerrorbars pt 0 lc rgb 'black' title '95% interval', "
             "'' using ($1+0.3):6:7:8 with yerrorbars pt 6 lc rgb '#d62728' title 'bands estimated by the camera: "
             "median, 5-95th percentile'",
             o);
}

void evaluation_chart(const InsightsResult& r, const fs::path& dir, const ChartOptions& o) {
  std::ostringstream d;
  d << "# index band then per method: rate low high\n";
  const auto& ev = r.evaluation;
  for (size_t b = 0; b < r.bands.size(); ++b) {
    d << b << " \"" << r.bands[b].band.name << "\"";
    for (const auto& m : ev.methods) {
      const auto [h, n] = m.by_band[b];
      const auto [lo, hi] = wilson_interval(h, n);
      d << ' ' << gnuplot_value(n ? double(h) / double(n) : std::nan("")) << ' ' << gnuplot_value(lo) << ' ' << gnuplot_value(hi);
    }
    d << '\n';
  }
  write_file_atomic(dir / "evaluation.dat", d.str());
  const char* colours[] = {"#1f77b4", "#2ca02c", "#7f7f7f", "#d62728"};
  std::string plot = "plot ";
  for (size_t m = 0; m < ev.methods.size(); ++m) {
    const int c = 3 + 3 * static_cast<int>(m);
    const std::string x = "($1" + format_number("%+.2f", (double(m) - (ev.methods.size() - 1) / 2.0) * 0.18) + ")";
    plot += std::string(m ? ", " : "") + "'evaluation.dat' using " + x + ":" + std::to_string(c) + ":" +
            std::to_string(c + 1) + ":" + std::to_string(c + 2) + (m == 0 ? ":xtic(2)" : "") +
            " with yerrorbars pt 7 lc rgb '" + colours[m % 4] + "' title " + gnuplot_quote(ev.methods[m].name) +
            " noenhanced";
  }
  draw_chart(dir, "evaluation",
             "set ylabel 'held-out baskets holding one of the k (hit rate at " + std::to_string(ev.k) +
                 ")'\nset grid ytics\nset yrange [0:*]\nset key top right\nset offsets 0.5, 0.5, 0, 0\n" + plot,
             o);
}

}  // namespace

namespace {

// The opening: what was counted, and how to read the figures.
// What a ranking's name means, in words for the page.
std::string ranking_words(const std::string& ranking) {
  if (ranking == "uplift") return "categories whose share of the band's baskets exceeds their share of all baskets by most";
  if (ranking == "contrast") return "categories the band buys most more often than the other bands, leaning on the ratio";
  return "over-indexed categories (supported, interval above 1) by lift";
}

void intro_section(HtmlPage& page, const InsightsResult& r) {
  const InsightsOptions& o = r.options;
  page.paragraph(std::to_string(r.lines) + " purchase lines in " + std::to_string(r.baskets) + " baskets (" +
                 std::to_string(r.banded_baskets) + " with an age band; " + std::to_string(r.unbanded_lines) +
                 " lines from shoppers without one; " + std::to_string(r.unknown_product_lines) +
                 " lines of products missing from the product list, counted as spend only); " +
                 std::to_string(r.restricted_lines) + " restricted lines. Computed in " +
                 format_number("%.2f", r.seconds) + " s.");
  for (const auto& w : r.band_warnings) page.paragraph("Note: " + w + ".");

  page.heading("How to read it");
  page.list({
      "Unit: the basket. A basket's band is its household's age band, taken as the band the camera would have "
      "estimated. P(c | band) is the share of the band's baskets holding a line of category c; P(c) the share of "
      "every basket with a band.",
      "Lift = P(c | band) / P(c): above 1 the band buys c more often than the average shopper. The 95% interval is "
      "Katz's log interval for a ratio, with the covariance of a band that is part of the whole (delta method).",
      "Support threshold: a category is ranked only when at least " + std::to_string(o.min_support) +
          " of the band's baskets hold it. At 20 the count's relative error is about 22%, so a lift's 95% interval "
          "spans about x/÷1.5: the fewest baskets at which a lift of 1.5 can be told from 1. Below it, a handful of "
          "baskets could put any category at the top.",
      "Recommendations: top " + std::to_string(o.top_k) + " per band by the " + r.ranking + " ranking (" +
          ranking_words(r.ranking) + "; " + r.evaluation.selection.why +
          "), with the band's most bought products of each as examples. Beer, "
          "wine and spirits are never recommended to a band whose youngest age is below the challenge age (" +
          std::to_string(o.challenge_age) + "), nor for an estimated age below it.",
  });
}

// The bands' counts and spend, and the charts over every band.
void bands_section(HtmlPage& page, const InsightsResult& r, bool any, const ChartOptions& charts) {
  const InsightsOptions& o = r.options;
  page.heading("Age bands");
  std::vector<std::vector<std::string>> rows;
  for (const auto& b : r.bands) {
    std::string restricted = b.baskets ? format_percent(b.restricted_share(), 2) + " (" +
                                             format_percent(b.restricted_low, 2) + "-" +
                                             format_percent(b.restricted_high, 2) + ")"
                                       : "-";
    if (b.restricted_estimated) {
      restricted += "; estimated bands " + format_percent(b.restricted_estimated->p50, 2) + " (" +
                    format_percent(b.restricted_estimated->p05, 2) + "-" +
                    format_percent(b.restricted_estimated->p95, 2) + ")";
    }
    rows.push_back({b.band.name, std::to_string(b.households), std::to_string(b.baskets), std::to_string(b.lines),
                    format_number("%.2f", b.spend),
                    b.baskets ? format_number("%.2f", double(b.lines) / double(b.baskets)) : "-",
                    b.baskets ? format_number("%.2f", b.spend / double(b.baskets)) : "-", restricted});
  }
  page.table({"band", "households", "baskets", "lines", "spend", "lines per basket", "spend per basket",
              "restricted share of spend (95% interval)"},
             rows,
             "Lines per basket are low because the data is a sample of lines: most baskets appear with only some of "
             "theirs.");
  if (any) {
    add_chart(page, "restricted",
              "Share of each band's spend on beer, wine and spirits, 95% interval (baskets as the unit); red: the "
              "range when bands come from the camera.",
              charts);
    page.heading("What each band buys more: departments");
    add_chart(page, "heatmap",
              "Lift by band and department (departments with at least " + std::to_string(o.min_department_baskets) +
                  " baskets). Red: bought more than by the average shopper; blue: less. A value in brackets has "
                  "fewer than " + std::to_string(o.min_support) + " band baskets behind it.",
              charts);
    page.heading("Recommendations");
    add_chart(page, "recommendations",
              "Each band's recommended categories: lift with its 95% interval (blue) and, in red, its 5th-95th "
              "percentile when each basket's band is drawn from the camera's confusion.",
              charts);
  }
}

// One band's recommendations and its most over-indexed categories.
void band_section(HtmlPage& page, const BandInsights& b, const InsightsOptions& o) {
  std::vector<std::vector<std::string>> rows;
  page.heading(b.band.name, 3);
  for (size_t j = 0; j < b.ranked.size() && j < static_cast<size_t>(o.top_k); ++j) {
    const Recommendation& rec = b.ranked[j];
    std::string examples;
    for (const auto& e : rec.examples) {
      examples += (examples.empty() ? "" : "; ") + e.type + (e.brand.empty() ? "" : " (" + e.brand + ")") + " #" +
                  e.id;
    }
    std::string est = "-";
    if (rec.kept) {
      est = "kept in " + format_percent(*rec.kept, 0) + ", lift " + format_number("%.2f", rec.estimated_lift.p50) +
            " (" + format_number("%.2f", rec.estimated_lift.p05) + "-" +
            format_number("%.2f", rec.estimated_lift.p95) + ")" + (rec.robust ? "" : " - does not survive");
    }
    rows.push_back({std::to_string(j + 1), rec.lift.name, rec.lift.department, lift_text(rec.lift),
                    std::to_string(rec.lift.band_with) + " of " + std::to_string(rec.lift.band_baskets), examples,
                    est});
  }
  if (rows.empty()) {
    page.paragraph("No category is over-indexed for " + b.band.name + " with enough support.");
  } else {
    page.table({"#", "category", "department", "lift (95% interval)", "band baskets", "example products",
                "with estimated bands"},
               rows, "Recommendations for " + b.band.name + (allows_restricted_text(b.band, o.challenge_age)));
  }
  rows.clear();
  for (const auto& l : b.categories) {
    if (!l.supported || rows.size() >= kCategoriesShown) continue;
    rows.push_back({l.name, l.department, lift_text(l), std::to_string(l.band_with), l.over ? "yes" : "",
                    l.restricted ? "restricted" : ""});
  }
  page.table({"category", "department", "lift (95% interval)", "band baskets", "over-indexed", ""}, rows,
             "The " + std::to_string(kCategoriesShown) + " supported categories with the highest lift.");
}

// The camera's confusion and which recommendations survive it.
void camera_section(HtmlPage& page, const InsightsResult& r) {
  const InsightsOptions& o = r.options;
  std::vector<std::vector<std::string>> rows;
  page.heading("When the band comes from the camera");
  if (r.confusion) {
    const BandConfusion& c = *r.confusion;
    std::vector<std::string> header = {"true band \\ estimated"};
    for (const auto& b : c.bands) header.push_back(b.name);
    header.push_back("outside every band");
    for (size_t t = 0; t < c.bands.size(); ++t) {
      std::vector<std::string> row = {c.bands[t].name};
      for (int64_t v : c.counts[t]) row.push_back(std::to_string(v));
      rows.push_back(row);
    }
    page.paragraph("Source: " + c.source + ". Each basket's band was redrawn " + std::to_string(o.resamples) +
                   " times from its row of this confusion (each row itself drawn from its Dirichlet posterior, so "
                   "the few photos per band add their own uncertainty); the insights were recomputed each time. A "
                   "recommendation survives when it stays in its band's top " + std::to_string(o.top_k) +
                   " in at least half of the redraws and its lift's 5th percentile stays above 1.");
    page.table(header, rows, "Validation photos by true and estimated band.");
    int64_t total = 0, fragile = 0;
    for (const auto& b : r.bands) {
      for (size_t j = 0; j < b.ranked.size() && j < static_cast<size_t>(o.top_k); ++j) {
        total++;
        fragile += b.ranked[j].robust ? 0 : 1;
      }
    }
    page.paragraph(std::to_string(fragile) + " of " + std::to_string(total) +
                   " recommendations would not survive estimated bands (marked in the tables above). Estimated bands "
                   "blur the differences between neighbouring bands, so lifts shrink towards 1.");
  } else {
    page.paragraph("No confusion was given (insights --predictions CSV, or a model and its faces data): the figures "
                   "assume known bands.");
  }
}

// The held-out weeks: the lift and uplift rankings against best sellers.
void holdout_section(HtmlPage& page, const InsightsResult& r, bool any, const ChartOptions& charts) {
  std::vector<std::vector<std::string>> rows;
  page.heading("Held-out evaluation");
  const HoldoutEvaluation& ev = r.evaluation;
  page.paragraph(ev.to_json().at("method").get<std::string>() + " Held out: weeks " + std::to_string(ev.first_week) +
                 "-" + std::to_string(ev.last_week) + " (" + std::to_string(ev.test_baskets) +
                 " baskets with a band); insights from " + std::to_string(ev.train_baskets) + " earlier baskets.");
  for (const auto& m : ev.methods) {
    const auto [lo, hi] = wilson_interval(m.hits, m.baskets);
    const double own = m.own_rate(), other = m.other_rate();
    rows.push_back({m.name, std::to_string(m.hits) + " of " + std::to_string(m.baskets),
                    format_percent(own) + " (" + format_percent(lo) + "-" + format_percent(hi) + ")",
                    format_percent(other), other > 0 ? format_number("%.2f", own / other) : "-"});
  }
  page.table({"method", "hits", "hit rate at " + std::to_string(ev.k) + " (95% interval)", "the same lists on other bands' baskets",
              "own / other"},
             rows);
  if (any) add_chart(page, "evaluation", "Hit rate at k by band and method, 95% Wilson intervals.", charts);
}

}  // namespace

void write_insights_report(const InsightsResult& r, const fs::path& dir, const ChartOptions& charts) {
  create_folder(dir / kCharts);
  const bool any = r.banded_baskets > 0;
  if (any) {
    heat_chart(r, dir / kCharts, charts);
    recommendations_chart(r, dir / kCharts, charts);
    restricted_chart(r, dir / kCharts, charts);
    evaluation_chart(r, dir / kCharts, charts);
  }
  HtmlPage page("agegate purchase insights by age band");
  intro_section(page, r);
  bands_section(page, r, any, charts);
  for (const auto& b : r.bands) {
    if (b.baskets > 0) band_section(page, b, r.options);
  }
  camera_section(page, r);
  holdout_section(page, r, any, charts);
  write_file_atomic(dir / "insights.json", r.to_json().dump(2) + "\n");
  write_file_atomic(dir / "recommendations.json", recommender_from(r).to_json().dump(2) + "\n");
  write_file_atomic(dir / "index.html", page.str());
}

}  // namespace agegate
