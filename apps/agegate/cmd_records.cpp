// The checkout records commands: `agegate db migrate|info|prune`,
// `agegate import-sales FILE` and `agegate audit` (see store/store.h and
// analytics/audit.h).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "agegate/analytics/audit.h"
#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/log.h"
#include "agegate/core/run_info.h"
#include "agegate/core/time.h"
#include "agegate/model/model_file.h"
#include "agegate/store/store.h"
#include "command.h"
#include "db_options.h"

namespace agegate::cli {
namespace {
using json = nlohmann::json;

// The held-out figures a manager needs beside a flag (not the policy curves).
json estimator_figures(const json& m) {
  json out = json::object();
  for (const char* k : {"count", "mae", "adults_25plus_check_rate", "adults_25plus_check_ci95",
                        "minors_13_17_pass_rate", "minors_13_17_pass_ci95", "under_legal_pass_rate",
                        "under_legal_pass_ci95", "counts", "policy"}) {
    if (m.contains(k)) out[k] = m.at(k);
  }
  return out;
}

// "YYYY-MM-DD" (UTC midnight; as --to, the end of that day) or an ISO 8601 time.
int64_t parse_when(const std::string& text, const std::string& flag, bool end_of_day) {
  if (text.size() == 10) {
    const int64_t t = parse_iso8601(text + "T00:00:00Z", flag);
    return end_of_day ? t + kMsPerDay : t;
  }
  return parse_iso8601(text, flag);
}

// ---- db ----
struct DbArgs {
  std::string db;
  double older_than_days = -1;
};

void setup_db(CLI::App& app) {
  auto a = std::make_shared<DbArgs>();
  CLI::App* cmd = app.add_subcommand("db", "The checkout database: migrate, info, prune");
  cmd->require_subcommand(1);
  CLI::App* migrate = cmd->add_subcommand("migrate", "create or upgrade the schema");
  add_db_option(migrate, a->db);
  migrate->callback([a] {
    auto store = Store::open(a->db);
    std::printf("%s: schema version %d\n", store->url().c_str(), store->schema_version());
    set_exit_code(kOk);
  });
  CLI::App* info = cmd->add_subcommand("info", "schema version and row counts (JSON)");
  add_db_option(info, a->db);
  info->callback([a] {
    auto store = Store::open(a->db);
    const StoreCounts c = store->counts();
    std::printf("%s\n", json{{"database", store->url()},
                             {"schema_version", store->schema_version()},
                             {"events", c.events},
                             {"sales", c.sales},
                             {"sale_lines", c.sale_lines},
                             {"retail_households", c.retail_households},
                             {"retail_products", c.retail_products},
                             {"retail_lines", c.retail_lines}}
                            .dump(2)
                            .c_str());
    set_exit_code(kOk);
  });
  CLI::App* prune = cmd->add_subcommand("prune", "delete events and sales older than --older-than days");
  add_db_option(prune, a->db);
  prune->add_option("--older-than", a->older_than_days, "age in days (fractions allowed)")->required();
  prune->callback([a] {
    if (!(a->older_than_days >= 0)) throw InvalidInput("db prune: --older-than must be >= 0 days");
    auto store = Store::open(a->db);
    const int64_t before = now_ms() - static_cast<int64_t>(a->older_than_days * double(kMsPerDay));
    const PruneResult r = store->prune(before);
    std::printf("pruned %lld events and %lld sales older than %s\n", static_cast<long long>(r.events),
                static_cast<long long>(r.sales), format_iso8601(before).c_str());
    set_exit_code(kOk);
  });
}
AGEGATE_COMMAND(70, setup_db);

// ---- import-sales ----
struct ImportArgs {
  std::string db;
  std::string file;
  bool skip_bad = false;
};

void setup_import(CLI::App& app) {
  auto a = std::make_shared<ImportArgs>();
  CLI::App* cmd = app.add_subcommand("import-sales", "Record the till's sales from a CSV or JSON Lines file");
  add_db_option(cmd, a->db);
  cmd->add_option("file", a->file, "sales file (.csv or .jsonl)")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--skip-bad", a->skip_bad,
                "load the good sales and list the bad ones (default: any bad row loads nothing)");
  cmd->callback([a] {
    std::vector<SaleProblem> problems;
    const std::vector<Sale> sales = read_sales_file(a->file, &problems);
    constexpr size_t kShown = 50;
    for (size_t i = 0; i < problems.size() && i < kShown; ++i) {
      std::fprintf(stderr, "agegate: %s\n", problems[i].message.c_str());
    }
    if (problems.size() > kShown) std::fprintf(stderr, "agegate: ... and %zu more problems\n", problems.size() - kShown);
    if (!problems.empty() && !a->skip_bad) {
      std::fprintf(stderr, "agegate: %zu problem(s) in %s: nothing loaded (--skip-bad loads the %zu good sales)\n",
                   problems.size(), a->file.c_str(), sales.size());
      set_exit_code(kUsage);
      return;
    }
    auto store = Store::open(a->db);
    const SalesWritten w = store->record_sales(sales);
    std::printf("%s\n", json{{"file", a->file},
                             {"inserted", w.inserted},
                             {"duplicates", w.duplicates},
                             {"bad_rows_skipped", problems.size()}}
                            .dump()
                            .c_str());
    if (!problems.empty()) {
      std::fprintf(stderr, "agegate: loaded %lld sales; skipped the %zu bad row(s) listed above\n",
                   static_cast<long long>(w.inserted), problems.size());
    }
    set_exit_code(kOk);
  });
}
AGEGATE_COMMAND(71, setup_import);

// ---- audit ----
struct AuditArgs {
  std::string db;
  std::string from, to;
  AuditOptions audit;  // every default lives there
  std::string out = "audit";
  std::string model = default_model_path().string();
  bool json = false;
};

void setup_audit(CLI::App& app) {
  auto a = std::make_shared<AuditArgs>();
  CLI::App* cmd = app.add_subcommand("audit", "Cashier compliance audit: HTML report and JSON");
  add_db_option(cmd, a->db);
  cmd->add_option("--from", a->from, "first day (YYYY-MM-DD, UTC) or ISO 8601 time");
  cmd->add_option("--to", a->to, "last day (inclusive) or ISO 8601 time (exclusive)");
  cmd->add_option("--store", a->audit.range.store, "one store only");
  cmd->add_option("--out", a->out, "report folder")->capture_default_str();
  cmd->add_option("--model", a->model, "model whose held-out error rates are shown beside the flags")
      ->capture_default_str();
  cmd->add_option("--window-s", a->audit.window_s, "lane/time matching: seconds before the sale")->capture_default_str();
  cmd->add_option("--skew-s", a->audit.skew_s, "lane/time matching: seconds after the sale")->capture_default_str();
  cmd->add_option("--min-asked", a->audit.min_asked, "fewest asked sales for a cashier to be tested")
      ->capture_default_str();
  cmd->add_option("--alpha", a->audit.alpha, "family-wise significance level (Holm)")->capture_default_str();
  cmd->add_flag("--json", a->json, "print the audit as JSON on stdout");
  cmd->callback([a] {
    AuditOptions o = a->audit;
    if (!a->from.empty()) o.range.from_ms = parse_when(a->from, "--from", false);
    if (!a->to.empty()) o.range.to_ms = parse_when(a->to, "--to", true);
    if (!a->model.empty()) {
      if (std::filesystem::exists(a->model)) {
        const ModelInfo info = read_model_info(a->model);
        const PartFigures& m = info.record.metrics;
        if (m.test) {
          o.estimator = estimator_figures(*m.test);
          o.estimator_source = std::filesystem::path(a->model).filename().string() + ", held-out test part";
        } else if (m.validation) {
          o.estimator = estimator_figures(*m.validation);
          o.estimator_source = std::filesystem::path(a->model).filename().string() + ", validation part";
        } else if (m.out_of_fold) {  // a cross-fitted model: every training photo by the fold model that never saw it
          o.estimator = estimator_figures(*m.out_of_fold);
          o.estimator_source = std::filesystem::path(a->model).filename().string() + ", out-of-fold estimates";
        }
      } else {
        log().warn("audit: model {} not found; the report shows no estimator error rates", a->model);
      }
    }
    auto store = Store::open(a->db);
    const AuditResult r = run_audit(*store, o);
    ChartOptions charts;
    write_audit_report(r, a->out, charts);
    // What this report was made with, beside it (as every command writes): no password.
    const json ran_with = {{"db", redact_store_url(a->db)}, {"from", a->from},          {"to", a->to},
                           {"store", o.range.store},         {"window_s", o.window_s}, {"skew_s", o.skew_s},
                           {"min_asked", o.min_asked},       {"alpha", o.alpha},       {"model", a->model},
                           {"estimator_source", o.estimator_source}};
    write_file_atomic(std::filesystem::path(a->out) / "options.json",
                      run_metadata("audit", ran_with, 0).dump(2) + "\n");
    if (a->json) {
      std::printf("%s\n", r.to_json().dump(2).c_str());
    } else {
      std::printf("restricted sales  %lld (matched: %lld by transaction, %lld by lane)\n",
                  static_cast<long long>(r.sales), static_cast<long long>(r.matched_by_transaction),
                  static_cast<long long>(r.matched_by_lane));
      for (const auto& c : r.cashiers) {
        if (c.flagged) {
          std::printf("FLAGGED           %s/%s: %lld of %lld asked sales unchecked\n", c.store.c_str(),
                      c.cashier.c_str(), static_cast<long long>(c.unchecked.hits),
                      static_cast<long long>(c.unchecked.n));
        }
      }
      std::printf("report            %s/index.html\n", a->out.c_str());
    }
    set_exit_code(kOk);
  });
}
AGEGATE_COMMAND(72, setup_audit);

}  // namespace
}  // namespace agegate::cli
