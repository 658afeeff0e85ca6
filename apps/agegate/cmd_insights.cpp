// The purchase-insights commands: `agegate import-retail DIR`, `agegate
// insights` and `agegate recommend` (see store/retail.h and
// insights/insights.h).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "agegate/core/error.h"
#include "agegate/core/format.h"
#include "agegate/core/fs.h"
#include "agegate/core/log.h"
#include "agegate/core/run_info.h"
#include "agegate/core/text.h"
#include "agegate/insights/insights.h"
#include "enum_option.h"
#include "agegate/store/store.h"
#include "command.h"
#include "db_options.h"

namespace agegate::cli {
namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr size_t kProblemsShown = 50;

// ---- import-retail ----
struct ImportRetailArgs {
  std::string db;
  fs::path dir = default_shared_dir() / "data" / "retail";
  std::string restricted;  // comma list; empty = the default categories
  bool skip_bad = false;
  bool strict = false;
};

// The problems of an import, counted, the refused ones shown (the first
// kProblemsShown) and the rest summed up.
struct ProblemTally {
  size_t bad = 0, unknown = 0, rewritten = 0;
  bool strict = false;
  size_t refused() const { return bad + (strict ? unknown : 0); }
};

ProblemTally judge_problems(const std::vector<RetailProblem>& problems, bool strict) {
  ProblemTally t;
  t.strict = strict;
  size_t shown = 0;
  const RetailProblem* first_unknown = nullptr;
  for (const RetailProblem& p : problems) {
    bool refuse = false;
    switch (p.kind) {
      case RetailProblem::Kind::kBadRow: t.bad++, refuse = true; break;
      case RetailProblem::Kind::kUnknownProduct:
        t.unknown++, refuse = strict;
        if (!first_unknown) first_unknown = &p;
        break;
      case RetailProblem::Kind::kRewrittenId:
        t.rewritten++;
        log().warn("import-retail: {}", p.message);
        break;
    }
    if (refuse && shown++ < kProblemsShown) std::fprintf(stderr, "agegate: %s\n", p.message.c_str());
  }
  if (shown > kProblemsShown) std::fprintf(stderr, "agegate: ... and %zu more problems\n", shown - kProblemsShown);
  if (first_unknown && !strict) {
    log().warn("import-retail: {} purchase line(s) name a product missing from products.csv (first: {}); kept as "
               "spend without a category (--strict refuses them)",
               t.unknown, first_unknown->message);
  }
  return t;
}

void setup_import_retail(CLI::App& app) {
  auto a = std::make_shared<ImportRetailArgs>();
  CLI::App* cmd = app.add_subcommand(
      "import-retail", "Load purchase data (households.csv, products.csv, transactions.csv) for the insights");
  add_db_option(cmd, a->db);
  cmd->add_option("dir", a->dir, "folder with the three files")->capture_default_str();
  cmd->add_option("--restricted-categories", a->restricted,
                  "comma list of age-restricted product categories (default: BEERS/ALES, DOMESTIC WINE, IMPORTED "
                  "WINE, MISC WINE, LIQUOR)");
  cmd->add_flag("--skip-bad", a->skip_bad, "load the good rows and list the bad ones (default: a bad row loads nothing)");
  cmd->add_flag("--strict", a->strict,
                "a purchase line whose product is not in products.csv is a bad row (default: kept as spend, "
                "without a category, and counted)");
  cmd->callback([a] {
    RetailReadOptions ro;
    if (!a->restricted.empty()) {
      ro.restricted_categories.clear();
      for (const std::string& c : split(a->restricted, ',')) {
        if (!trim(c).empty()) ro.restricted_categories.push_back(trim(c));
      }
    }
    // The lines stream from transactions.csv into the database's one
    // transaction; the problems are judged at the end, and refusing then
    // rolls back: nothing loaded, whatever the file's size.
    std::vector<RetailProblem> problems;
    RetailReader reader(a->dir, ro, &problems);
    auto store = Store::open(a->db);
    ProblemTally tally;
    const RetailWritten w =
        store->replace_retail(reader.households(), reader.products(), [&](std::vector<RetailLine>* batch) {
          if (!reader.next_lines(batch, 65536)) {
            tally = judge_problems(problems, a->strict);
            if (tally.refused() > 0 && !a->skip_bad) {
              throw InvalidInput(std::to_string(tally.refused()) + " bad row(s) in " + a->dir.string() +
                                 ": nothing loaded (--skip-bad loads the good rows)");
            }
            return false;
          }
          if (a->strict) {  // --skip-bad --strict: drop the lines of unknown products
            batch->erase(std::remove_if(batch->begin(), batch->end(),
                                        [&](const RetailLine& l) { return !reader.known_product(l.product); }),
                         batch->end());
          }
          return true;
        });
    const size_t refused = tally.refused(), unknown = tally.unknown, rewritten = tally.rewritten;
    std::printf("%s\n", json{{"dir", a->dir.string()},
                             {"households", w.households},
                             {"products", w.products},
                             {"lines", w.lines},
                             {"bad_rows_skipped", refused},
                             {"lines_with_unknown_product", a->strict ? 0 : unknown},
                             {"ids_rewritten", rewritten}}
                            .dump()
                            .c_str());
    set_exit_code(kOk);
  });
}
AGEGATE_COMMAND(73, setup_import_retail);

// ---- insights ----
struct InsightsArgs {
  std::string db;
  InsightsOptions insights;  // every default lives there
  std::string bands = "marketing";
  std::string out = "insights";
  fs::path predictions;
  fs::path model = default_model_path();
  fs::path data = default_data_dir();
  bool no_confusion = false;
  bool json = false;
};

void add_insights_options(CLI::App* cmd, InsightsArgs& a, bool with_k) {
  cmd->add_option("--bands", a.bands, "marketing (the data's 19-24 ... 65+), estimator (0-12 ... 60+) or a list like 18-29,30-49,50+")
      ->capture_default_str();
  cmd->add_option("--min-support", a.insights.min_support, "band baskets holding a category before it is ranked")
      ->capture_default_str();
  if (with_k) cmd->add_option("--k", a.insights.top_k, "recommendations per band")->capture_default_str();
  cmd->add_option("--challenge-age", a.insights.challenge_age, "no restricted goods for bands or ages below it")
      ->capture_default_str();
  add_enum_option(cmd, "--ranking", a.insights.ranking, kRankings,
                  "the recommendations' ranking: lift, uplift, contrast, or auto (chosen on the weeks before the "
                  "held-out ones)");
}

BandConfusion resolve_confusion(const InsightsArgs& a, const std::vector<AgeBand>& bands, bool* have) {
  *have = false;
  if (a.no_confusion) return {};
  if (!a.predictions.empty()) {
    *have = true;
    return read_band_confusion(a.predictions, bands);
  }
  if (!fs::exists(a.model) || !fs::exists(a.data / "labels.csv")) {
    log().warn("insights: no --predictions, and model {} or data {} is missing: figures assume known bands",
               a.model.string(), a.data.string());
    return {};
  }
  *have = true;
  return confusion_from_model(a.model, a.data, bands);
}

void setup_insights(CLI::App& app) {
  auto a = std::make_shared<InsightsArgs>();
  CLI::App* cmd = app.add_subcommand("insights", "What each age band buys: HTML report, JSON and recommendations");
  add_db_option(cmd, a->db);
  add_insights_options(cmd, *a, true);
  cmd->add_option("--out", a->out, "report folder")->capture_default_str();
  cmd->add_option("--examples", a->insights.examples, "example products per recommended category")->capture_default_str();
  cmd->add_option("--holdout-weeks", a->insights.holdout_weeks, "last weeks held out for the evaluation")
      ->capture_default_str();
  cmd->add_option("--resamples", a->insights.resamples, "band redraws through the camera's confusion")
      ->capture_default_str();
  cmd->add_option("--seed", a->insights.seed)->capture_default_str();
  cmd->add_option("--predictions", a->predictions,
                  "predictions CSV (real_age,pred_age) for the camera's band confusion, e.g. from `agegate evaluate "
                  "--predictions` on validation photos");
  cmd->add_option("--model", a->model, "without --predictions: run this model on its own validation part of --data")
      ->capture_default_str();
  cmd->add_option("--data", a->data, "faces folder for --model")->capture_default_str();
  cmd->add_flag("--no-confusion", a->no_confusion, "assume known bands (skip the estimation-error analysis)");
  cmd->add_flag("--json", a->json, "print the insights as JSON on stdout");
  cmd->callback([a] {
    InsightsOptions o = a->insights;
    o.bands = parse_age_bands(a->bands, "--bands");
    auto store = Store::open(a->db);
    if (store->counts().retail_lines == 0) {
      throw InvalidInput("insights: " + store->url() + " holds no retail data (load it with `agegate import-retail`)");
    }
    bool have = false;
    const BandConfusion confusion = resolve_confusion(*a, o.bands, &have);
    const InsightsResult r = compute_insights(*store->retail_counts(), o, have ? &confusion : nullptr);
    write_insights_report(r, a->out, ChartOptions{});
    json ran = o.to_json();
    ran["db"] = store->url();
    ran["confusion"] = have ? json(confusion.source) : json(nullptr);
    write_file_atomic(fs::path(a->out) / "options.json", run_metadata("insights", ran, o.seed).dump(2) + "\n");
    if (a->json) {
      std::printf("%s\n", r.to_json().dump(2).c_str());
      set_exit_code(kOk);
      return;
    }
    std::printf("%-8s %8s %8s  top recommendations by %s (lift)\n", "band", "baskets", "restr.", r.ranking.c_str());
    for (const auto& b : r.bands) {
      std::string recs;
      for (size_t j = 0; j < b.ranked.size() && j < static_cast<size_t>(o.top_k); ++j) {
        recs += (j ? ", " : "") + b.ranked[j].lift.name + " " + format_number("%.2f", b.ranked[j].lift.lift) +
                (b.ranked[j].robust ? "" : "*");
      }
      std::printf("%-8s %8lld %7.2f%%  %s\n", b.band.name.c_str(), static_cast<long long>(b.baskets),
                  100 * b.restricted_share(), recs.c_str());
    }
    if (have) std::printf("* does not survive bands estimated by the camera (%s)\n", confusion.source.c_str());
    const auto& ev = r.evaluation;
    std::printf("\nheld-out weeks %d-%d (%lld baskets): hit rate at %d\n", ev.first_week, ev.last_week,
                static_cast<long long>(ev.test_baskets), ev.k);
    for (const auto& m : ev.methods) {
      std::printf("  %-22s %6.2f%%  (own band / other bands %.2f)\n", m.name.c_str(), 100.0 * m.own_rate(),
                  m.own_rate() / m.other_rate());
    }
    const RankingSelection& sel = ev.selection;
    std::printf("ranking  %s: %s", r.ranking.c_str(), sel.why.c_str());
    if (sel.first_week) std::printf(" (weeks %d-%d)", sel.first_week, sel.last_week);
    std::printf("\nreport   %s/index.html\n", a->out.c_str());
    set_exit_code(kOk);
  });
}
AGEGATE_COMMAND(74, setup_insights);

// ---- recommend ----
struct RecommendArgs {
  InsightsArgs from_db;
  fs::path file;  // recommendations.json
  std::optional<double> age;
  std::string band;
  int k = 5;
  bool json = false;
};

void setup_recommend(CLI::App& app) {
  auto a = std::make_shared<RecommendArgs>();
  CLI::App* cmd = app.add_subcommand("recommend", "Categories to suggest to an age band or an estimated age");
  cmd->add_option("--db", a->from_db.db, "compute from the retail data in this database (also AGEGATE_DB)")
      ->envname("AGEGATE_DB");
  cmd->add_option("--from", a->file, "or read a recommendations.json written by `agegate insights`");
  add_insights_options(cmd, a->from_db, false);
  cmd->add_option("--age", a->age, "an estimated age");
  cmd->add_option("--band", a->band, "or an age band by name (25-34)");
  cmd->add_option("--k", a->k, "how many")->capture_default_str();
  cmd->add_flag("--json", a->json, "print JSON");
  cmd->callback([a] {
    if (a->file.empty() == a->from_db.db.empty()) throw InvalidInput("recommend: give either --db or --from");
    Recommender rec = [&] {
      if (!a->file.empty()) return Recommender::load(a->file);
      InsightsOptions o = a->from_db.insights;
      o.bands = parse_age_bands(a->from_db.bands, "--bands");
      o.resamples = 0;
      o.top_k = std::max(o.top_k, a->k);
      auto store = Store::open(a->from_db.db);
      if (store->counts().retail_lines == 0) throw InvalidInput("recommend: " + store->url() + " holds no retail data");
      return recommender_from(compute_insights(*store->retail_counts(), o, nullptr));
    }();
    Recommender::Query q;
    q.age = a->age;
    q.band = a->band;
    q.k = a->k;
    const json answer = rec.recommend(q, a->from_db.insights.challenge_age);
    if (a->json) {
      std::printf("%s\n", answer.dump(2).c_str());
    } else {
      std::printf("band %s%s\n", answer.at("band").get<std::string>().c_str(),
                  answer.at("restricted_allowed").get<bool>() ? "" : " (no restricted goods)");
      int i = 0;
      for (const json& item : answer.at("items")) {
        std::printf("%2d. %-36s lift %.2f  %s\n", ++i, item.at("category").get<std::string>().c_str(),
                    item.at("lift").get<double>(), item.value("department", "").c_str());
      }
      for (const json& n : answer.at("notes")) std::printf("note: %s\n", n.get<std::string>().c_str());
    }
    set_exit_code(kOk);
  });
}
AGEGATE_COMMAND(75, setup_recommend);

}  // namespace
}  // namespace agegate::cli
