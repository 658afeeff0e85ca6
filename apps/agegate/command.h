// Subcommand registry: each cmd_*.cpp registers itself, so commands can be
// added without editing main.cpp. A command's setup adds a CLI11 subcommand,
// parses into an options struct (defaults written in the struct) and, in its
// callback, calls the library and returns the process exit code.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace agegate::cli {

enum ExitCode : int {
  kOk = 0,
  kFailed = 1,        // ran, but the result is a failure (e.g. nothing usable)
  kUsage = 2,         // InvalidInput or bad flags
  kIoError = 3,
  kModelError = 4,
  kInterrupted = 130,
};

// `setup` receives the top-level app and must add exactly one subcommand.
// The callback it installs stores its exit code with set_exit_code().
using Setup = std::function<void(CLI::App& app)>;

struct Registrar {
  Registrar(int order, Setup setup);
};
void set_exit_code(int code);

}  // namespace agegate::cli

#define AGEGATE_CONCAT_INNER(a, b) a##b
#define AGEGATE_CONCAT(a, b) AGEGATE_CONCAT_INNER(a, b)
// order: position in --help (train 10, evaluate 20, predict 30, eda 40, report 50, serve 60).
#define AGEGATE_COMMAND(order, setup) \
  static ::agegate::cli::Registrar AGEGATE_CONCAT(agegate_registrar_, __LINE__)(order, setup)
