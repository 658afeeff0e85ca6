// `agegate replay-day`: a simulated store day sent through a running service
// (see include/agegate/sim/store_day.h); prints what really happened as JSON.
#ifdef AGEGATE_WITH_VISION
#include <cstdio>
#include <memory>
#include <string>

#include "agegate/sim/store_day.h"
#include "command.h"

namespace agegate::cli {
namespace {

struct ReplayArgs {
  StoreDayOptions day;  // every default lives there
  std::string faces, retail, cashiers;
  bool alcohol_only = false;
};

void setup(CLI::App& app) {
  auto a = std::make_shared<ReplayArgs>();
  auto& o = a->day;
  CLI::App* cmd = app.add_subcommand("replay-day", "Replay a simulated store day through a running `serve --db`");
  cmd->add_option("--url", o.url, "the service")->capture_default_str();
  cmd->add_option("--token", o.token, "bearer token (also AGEGATE_TOKEN)")->envname("AGEGATE_TOKEN");
  cmd->add_option("--faces", a->faces, "face photos in the study's layout (default <shared>/data/faces)");
  cmd->add_option("--retail", a->retail, "grocery baskets (default <shared>/data/retail)");
  cmd->add_option("--store", o.store, "store id")->capture_default_str();
  cmd->add_option("--date", o.date, "the day, YYYY-MM-DD (default today, UTC)");
  cmd->add_option("--customers", o.customers, "customers in the day")->capture_default_str();
  cmd->add_option("--restricted-share", o.restricted_share, "share of baskets with alcohol")->capture_default_str();
  cmd->add_option("--minor-share", o.minor_share, "share of alcohol buyers aged 13-17")->capture_default_str();
  cmd->add_option("--cashiers", a->cashiers,
                  "ID:RATE,... one cashier per lane, RATE = share of asked sales they check "
                  "(default c1..c5:0.95,c6:0.30)");
  cmd->add_option("--lanes-without-transaction", o.lanes_without_transaction,
                  "lanes whose till sends no transaction id with the photo")
      ->capture_default_str();
  cmd->add_flag("--alcohol-only", a->alcohol_only, "photograph only customers buying alcohol");
  cmd->add_option("--concurrency", o.concurrency, "requests in flight")->capture_default_str();
  cmd->add_option("--seed", o.seed, "random seed")->capture_default_str();
  cmd->callback([a] {
    StoreDayOptions o = a->day;
    if (!a->faces.empty()) o.faces_dir = a->faces;
    if (!a->retail.empty()) o.retail_dir = a->retail;
    if (!a->cashiers.empty()) o.cashiers = parse_cashiers(a->cashiers);
    o.photograph_all = !a->alcohol_only;
    const StoreDaySummary s = replay_store_day(o);
    std::printf("%s\n", s.json.dump(2).c_str());
    set_exit_code(kOk);
  });
}

}  // namespace
AGEGATE_COMMAND(73, setup);
}  // namespace agegate::cli
#endif
