// `agegate serve`: the HTTP service (see include/agegate/serve/server.h).
#ifdef AGEGATE_WITH_VISION
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "agegate/core/interrupt.h"
#include "agegate/core/log.h"
#include "agegate/core/log_format.h"
#include "agegate/serve/config.h"
#include "agegate/serve/server.h"
#include "command.h"

namespace agegate::cli {
namespace {

struct ServeArgs {
  std::string config;  // --config FILE (or AGEGATE_CONFIG)
  bool print_config = false;
  // One text per configuration key given as a flag (serve/config.h parses
  // them with the file and the environment, flags winning).
  std::map<std::string, std::string> given;
  std::map<std::string, bool> switched;
  std::map<std::string, CLI::Option*> options;
  bool reference_path = false;
};

void setup(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "HTTP service: POST /v1/estimate, /v1/sales, GET /v1/recommendations, /healthz, /readyz, /metrics");
  cmd->add_option("--config", a->config,
                  "TOML configuration file (deploy/serve.toml documents every key); flags > environment > file")
      ->envname("AGEGATE_CONFIG");
  cmd->add_flag("--print-config", a->print_config,
                "print the effective configuration as TOML (secrets redacted) and exit");
  for (const ConfigKey& k : serve_config_keys()) {
    if (k.name == "log.level") continue;  // agegate's own --log-level, before the command
    const std::string help = k.help + " [" + k.name + ", " + k.env + "]";
    if (!k.switch_value.empty()) {
      a->options[k.name] = cmd->add_flag(k.flag, a->switched[k.name], help);
    } else {
      a->options[k.name] = cmd->add_option(k.flag, a->given[k.name], help);
    }
  }
  cmd->add_flag("--reference-path", a->reference_path, "benchmarks only: the service before the speed work")->group("");
  cmd->callback([a, cmd] {
    ConfigInputs in;
    in.file = a->config;
    for (const auto& [name, option] : a->options) {
      if (option->count() == 0) continue;
      in.flags.emplace_back(name, a->given.count(name) ? a->given.at(name) : std::string());
    }
    if (const CLI::Option* level = cmd->get_parent()->get_option("--log-level"); level->count() > 0) {
      in.flags.emplace_back("log.level", level->as<std::string>());
    }
    const ResolvedConfig rc = resolve_serve_config(in);
    if (a->print_config) {
      std::cout << print_serve_config(rc);
      set_exit_code(kOk);
      return;
    }
    set_log_level(rc.config.log_level);
    set_log_format(rc.config.log_format);
    ServerOptions o = rc.config.server;
    o.reference_path = a->reference_path;
    if (!a->config.empty()) log().info("configuration from {}", a->config);
    install_interrupt_handler();
    install_reload_handler();
    Server server(o);
    server.start();
    server.run_until_interrupted();
    set_exit_code(kOk);
  });
}

}  // namespace
AGEGATE_COMMAND(60, setup);
}  // namespace agegate::cli
#endif
