// The agegate command: thin subcommands over the library (see command.h).
#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "agegate/core/allocator.h"
#include "agegate/core/error.h"
#include "agegate/core/interrupt.h"
#include "agegate/core/log.h"
#include "agegate/core/progress.h"
#include "agegate/core/run_info.h"
#include "command.h"

namespace agegate::cli {
namespace {
std::vector<std::pair<int, Setup>>& registry() {
  static std::vector<std::pair<int, Setup>> r;
  return r;
}
int g_exit_code = kOk;
}  // namespace

Registrar::Registrar(int order, Setup setup) { registry().emplace_back(order, std::move(setup)); }
void set_exit_code(int code) { g_exit_code = code; }

}  // namespace agegate::cli

int main(int argc, char** argv) {
  using namespace agegate;
  tune_allocator_for_tensors();
  CLI::App app{"agegate: estimate a shopper's age from a face photo, with an interval and a "
               "Challenge-25 decision"};
  app.set_version_flag("--version", agegate_version() + " (" + git_revision() + ")");
  app.require_subcommand(1);
  std::string log_level = "info";
  bool quiet = false;
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  app.add_flag("-q,--quiet", quiet, "no progress output on stderr");

  auto& reg = cli::registry();
  std::stable_sort(reg.begin(), reg.end(), [](auto& a, auto& b) { return a.first < b.first; });
  for (auto& [order, setup] : reg) setup(app);

  app.parse_complete_callback([&] {
    set_log_level(log_level);
    if (quiet) Progress::set_enabled(false);
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? cli::kOk : cli::kUsage;
  } catch (const InvalidInput& e) {
    std::fprintf(stderr, "agegate: error: %s\n", e.what());
    return cli::kUsage;
  } catch (const IoError& e) {
    std::fprintf(stderr, "agegate: I/O error: %s\n", e.what());
    return cli::kIoError;
  } catch (const ModelError& e) {
    std::fprintf(stderr, "agegate: model error: %s\n", e.what());
    return cli::kModelError;
  } catch (const std::exception& e) {
    // A library's own exception (an OpenCV assertion spans several lines of
    // its source): one line, marked as ours to fix.
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    std::fprintf(stderr, "agegate: internal error (please report): %s\n", what.c_str());
    return cli::kFailed;
  }
  return cli::g_exit_code;
}
