// The compliance audit as an HTML page with charts, and as JSON; see analytics/audit.h.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "agegate/analytics/audit.h"
#include "agegate/core/format.h"
#include "agegate/core/fs.h"
#include "agegate/core/time.h"
#include "agegate/report/html.h"

namespace agegate {
namespace fs = std::filesystem;
namespace {

constexpr const char* kCharts = "charts";

std::string share_text(const Share& s) {
  if (s.n == 0) return "-";
  return std::to_string(s.hits) + "/" + std::to_string(s.n) + " = " + format_percent(s.rate()) + " (" +
         format_percent(s.low()) + "-" + format_percent(s.high()) + ")";
}

std::string p_text(const std::optional<double>& p) {
  if (!p) return "-";
  return *p < 1e-4 ? std::string("<0.0001") : format_number("%.4f", *p);
}


void cashier_chart(const AuditResult& r, const fs::path& dir, const ChartOptions& o) {
  std::ostringstream d;
  d << "# index label rate low high flagged store_rate\n";
  int i = 0;
  for (const auto& c : r.cashiers) {
    double store_rate = std::nan("");
    for (const auto& s : r.stores) {
      if (s.store == c.store) store_rate = s.unchecked.rate();
    }
    d << i++ << " \"" << c.store << "/" << c.cashier << "\" " << gnuplot_value(c.unchecked.rate()) << ' '
      << gnuplot_value(c.unchecked.low()) << ' ' << gnuplot_value(c.unchecked.high()) << ' ' << (c.flagged ? 1 : 0) << ' '
      << gnuplot_value(store_rate) << '\n';
  }
  write_file_atomic(dir / "cashiers.dat", d.str());
  draw_chart(dir, "cashiers",
             "set ylabel 'unchecked risky sales / sales where the camera asked'\nset yrange [0:1]\n"
             "set ytics ('0%%' 0, '20%%' 0.2, '40%%' 0.4, '60%%' 0.6, '80%%' 0.8, '100%%' 1)\n"
             "set xtics rotate by -40\nset grid ytics\nset key top left\nset offsets 0.5, 0.5, 0, 0\n"
             "set style fill solid 0.6\nset boxwidth 0.6\n"
             "plot 'cashiers.dat' using 1:($6==0?$3:1/0):xtic(2) with boxes lc rgb '#1f77b4' title 'cashier', "
             "'' using 1:($6==1?$3:1/0) with boxes lc rgb '#d62728' title 'flagged', "
             "'' using 1:3:4:5 with yerrorbars lc rgb 'black' pt 0 title '95% interval', "
             "'' using 1:7 with points pt 5 ps 1.2 lc rgb '#2ca02c' title 'store rate'",
             o);
}

void weekly_chart(const AuditResult& r, const fs::path& dir, const ChartOptions& o) {
  std::ostringstream d;
  d << "# index week unchecked low high asked refused\n";
  int i = 0;
  for (const auto& w : r.weeks) {
    d << i++ << ' ' << format_date(w.start_ms) << ' ' << gnuplot_value(w.unchecked.rate()) << ' ' << gnuplot_value(w.unchecked.low())
      << ' ' << gnuplot_value(w.unchecked.high()) << ' ' << gnuplot_value(w.asked.rate()) << ' ' << gnuplot_value(w.refused.rate()) << '\n';
  }
  write_file_atomic(dir / "weekly.dat", d.str());
  draw_chart(dir, "weekly",
             "set ylabel 'share'\nset yrange [0:1]\nset xlabel 'week starting (UTC)'\nset grid\n"
             "set xtics rotate by -40\nset key top right\nset offsets 0.3, 0.3, 0, 0\n"
             "plot 'weekly.dat' using 1:3:4:5:xtic(2) with yerrorlines lc rgb '#d62728' pt 7 title 'unchecked risky "
             "(of asked), 95% interval', '' using 1:6 with linespoints lc rgb '#1f77b4' pt 5 title 'camera asked (of "
             "restricted)', '' using 1:7 with linespoints lc rgb '#7f7f7f' pt 9 title 'refused (of restricted)'",
             o);
}

// Leading cells (store, cashier or week) followed by the figures' cells, in
// the order of kFigureColumns.
const std::vector<std::string> kFigureColumns = {"restricted sales", "unmatched", "camera asked",
                                                 "unchecked risky (of asked)", "refused (of restricted)",
                                                 "checked though passed"};

std::vector<std::string> with_figures(std::vector<std::string> row, const AuditFigures& g) {
  row.push_back(std::to_string(g.restricted));
  row.push_back(std::to_string(g.unmatched));
  row.push_back(share_text(g.asked));
  row.push_back(share_text(g.unchecked));
  row.push_back(share_text(g.refused));
  row.push_back(share_text(g.checked_unasked));
  return row;
}

std::vector<std::string> columns(std::vector<std::string> leading, const std::vector<std::string>& trailing = {}) {
  leading.insert(leading.end(), kFigureColumns.begin(), kFigureColumns.end());
  leading.insert(leading.end(), trailing.begin(), trailing.end());
  return leading;
}

void add_chart(HtmlPage& page, const std::string& name, const std::string& caption, const ChartOptions& charts) {
  page.chart(kCharts, name, caption, charts.svg);
}

}  // namespace

namespace {

// The range, what was read, and what the flags mean.
void intro_section(HtmlPage& page, const AuditResult& r) {
  const auto& range = r.options.range;
  page.paragraph("Restricted sales from " + (range.from_ms ? format_iso8601(*range.from_ms) : std::string("the start")) +
                 " to " + (range.to_ms ? format_iso8601(*range.to_ms) : std::string("the end")) +
                 (range.store.empty() ? ", every store" : ", store " + range.store) + ": " +
                 std::to_string(r.sales) + " restricted sales, " + std::to_string(r.events) +
                 " camera estimates read; audit took " + format_number("%.2f", r.seconds) + " s.");

  page.heading("Read this first");
  std::vector<std::string> caveats = {
      "An \"unchecked risky sale\" is a restricted sale where the camera asked for ID and the cashier recorded no "
      "check. It is a reason to look, not proof of an under-age sale: the camera asks for ID for many adults.",
      "A cashier is flagged only when their unchecked rate is above the rest of their store's by a one-sided Fisher "
      "exact test whose p-value, Holm-adjusted over the " +
          std::to_string(std::count_if(r.cashiers.begin(), r.cashiers.end(), [](const AuditGroup& g) { return g.tested; })) +
          " cashiers tested, is below " + format_number("%.2g", r.options.alpha) +
          ". Cashiers with fewer than " + std::to_string(r.options.min_asked) + " asked sales are shown but not tested.",
      "Matching: a sale is matched to the camera's estimate by transaction id; when the till sent none, to the latest "
      "unused estimate of the same store and lane taken from " + std::to_string(r.options.window_s) +
          " s before to " + std::to_string(r.options.skew_s) + " s after the sale (" +
          std::to_string(r.matched_by_transaction) + " matched by transaction, " + std::to_string(r.matched_by_lane) +
          " by lane and time). Restricted sales with no estimate are counted as unmatched, never as asked."};
  page.list(caveats);
}

// The estimator's held-out error rates beside the flags, and the models in the events.
void estimator_section(HtmlPage& page, const AuditResult& r) {
  page.heading("How often the camera is wrong");
  const nlohmann::json& est = r.options.estimator;
  if (est.is_object() && est.contains("count")) {
    auto rate = [&](const char* key, const char* ci, const char* hits, const char* n) {
      const auto& c = est.at("counts");
      std::string t = est.value(key, nlohmann::json(nullptr)).is_number() ? format_percent(est.at(key).get<double>()) : "-";
      if (est.contains(ci) && est.at(ci).is_array() && est.at(ci).size() == 2 && est.at(ci)[0].is_number()) {
        t += " (" + format_percent(est.at(ci)[0].get<double>()) + "-" + format_percent(est.at(ci)[1].get<double>()) + ")";
      }
      t += ", " + std::to_string(c.value(hits, 0)) + " of " + std::to_string(c.value(n, 0));
      return t;
    };
    page.table({"held-out rate (" + r.options.estimator_source + ")", "value, 95% interval"},
               {{"adults 25+ asked for ID (false alarms)", rate("adults_25plus_check_rate", "adults_25plus_check_ci95", "adults_25plus_check", "adults_25plus")},
                {"13-17 year-olds passed without a check", rate("minors_13_17_pass_rate", "minors_13_17_pass_ci95", "minors_13_17_pass", "minors_13_17")},
                {"under 18 passed without a check", rate("under_legal_pass_rate", "under_legal_pass_ci95", "under_legal_pass", "under_legal")},
                {"mean absolute error (years)", format_number("%.2f", est.value("mae", std::nan("")))}},
               "The estimator's error on held-out photos. A cashier who skips a check the camera asked for is most "
               "often serving an adult; the audit compares cashiers with each other, which these errors affect alike.");
  } else {
    page.paragraph("No estimator figures were given (audit --model names a model file whose held-out figures are shown here).");
  }
  if (!r.models.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& [m, n] : r.models) rows.push_back({m, std::to_string(n)});
    page.table({"estimator in the events", "estimates"}, rows);
  }
}

void flagged_section(HtmlPage& page, const AuditResult& r) {
  page.heading("Flagged cashiers");
  std::vector<std::vector<std::string>> flagged;
  for (const auto& c : r.cashiers) {
    if (c.flagged) flagged.push_back({c.store, c.cashier, share_text(c.unchecked), p_text(c.p_value), p_text(c.p_adjusted)});
  }
  if (flagged.empty()) {
    page.paragraph("No cashier's unchecked rate is significantly above their store's.");
  } else {
    page.table({"store", "cashier", "unchecked risky (of asked), 95% interval", "p", "p (Holm)"}, flagged);
  }
}

// Stores, cashiers and weeks, each with its rates.
void figures_sections(HtmlPage& page, const AuditResult& r, bool has_cashiers, bool has_weeks,
                      const ChartOptions& charts) {
  page.heading("Stores");
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : r.stores) rows.push_back(with_figures({s.store}, s));
  page.table(columns({"store"}), rows, "Rates with Wilson 95% intervals.");

  page.heading("Cashiers");
  if (has_cashiers) {
    add_chart(page, "cashiers",
              "Unchecked risky sales per cashier with 95% intervals; green squares: their store's rate; red: flagged.",
              charts);
  }
  rows.clear();
  for (const auto& c : r.cashiers) {
    auto row = with_figures({c.store, c.cashier}, c);
    row.push_back(c.p_value ? p_text(c.p_value) + " (Holm " + p_text(c.p_adjusted) + ")" : "-");
    row.push_back(c.flagged ? "FLAGGED: " + c.note : c.note);
    rows.push_back(row);
  }
  page.table(columns({"store", "cashier"}, {"p (Fisher, one-sided)", "verdict"}), rows);

  page.heading("Weekly trend");
  if (has_weeks) {
    add_chart(page, "weekly",
              "Per week (Monday, UTC): unchecked risky share with its 95% interval, camera-asked and refusal shares.",
              charts);
  }
  rows.clear();
  for (const auto& w : r.weeks) rows.push_back(with_figures({format_date(w.start_ms)}, w));
  page.table(columns({"week"}), rows);
}

}  // namespace

void write_audit_report(const AuditResult& r, const fs::path& dir, const ChartOptions& charts) {
  create_folder(dir / kCharts);
  const bool has_cashiers = !r.cashiers.empty(), has_weeks = !r.weeks.empty();
  if (has_cashiers) cashier_chart(r, dir / kCharts, charts);
  if (has_weeks) weekly_chart(r, dir / kCharts, charts);
  HtmlPage page("agegate cashier compliance audit");
  intro_section(page, r);
  estimator_section(page, r);
  flagged_section(page, r);
  figures_sections(page, r, has_cashiers, has_weeks, charts);
  write_file_atomic(dir / "audit.json", r.to_json().dump(2) + "\n");
  write_file_atomic(dir / "index.html", page.str());
}

}  // namespace agegate
