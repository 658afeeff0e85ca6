// `agegate serve`'s configuration in one parser: built-in defaults, then a
// TOML file (`--config`), then the environment, then command-line flags,
// each later source overriding the earlier ones, key by key.
//
// Every setting is one key of serve_config_keys(): its TOML name
// ("limits.threads"), its flag ("--threads") and its environment variable
// ("AGEGATE_THREADS"). An unknown key, a wrong type or an out-of-range value
// is an InvalidInput naming the file and line (or the variable, or the
// flag) and the key. Secrets never come from the file itself: the token only
// by file reference (auth.token_file) and a database password only through
// libpq's passfile (records.db = "postgresql://agegate@db/agegate?passfile=...").
// Relative paths in a file are relative to the file's folder.
//
//   ConfigInputs in;  in.file = "/etc/agegate/serve.toml";
//   in.flags = {{"listen.port", "9090"}};
//   ResolvedConfig c = resolve_serve_config(in);   // c.config.server.port == 9090
//   std::cout << print_serve_config(c);            // TOML, secrets redacted, each value's source
//
// deploy/serve.toml documents every key; tests/serve/config_test.cpp checks
// it against this table both ways.
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "agegate/core/log_format.h"
#include "agegate/serve/server.h"

namespace agegate {

struct ServeConfig {
  ServerOptions server;
  std::string log_level = "info";
  LogFormat log_format = LogFormat::kPlain;
};

struct ConfigKey {
  enum class Type { kInteger, kNumber, kBool, kString };
  std::string name;  // TOML: "table.key"
  std::string flag;  // "--port"; a kBool key's flag may be a switch ("--no-calibration", see switch_value)
  std::string env;   // "AGEGATE_PORT"
  Type type = Type::kString;
  std::string help;
  bool secret = false;    // never read from a file, never printed
  bool optional = false;  // may be unset (printed as a comment)
  std::string switch_value;  // non-empty: the flag takes no value and sets this
};

// Every key, in the order deploy/serve.toml and --print-config list them.
const std::vector<ConfigKey>& serve_config_keys();

struct ConfigInputs {
  std::filesystem::path file;  // "" = no file
  // The environment (tests pass their own); nullptr for an unset variable.
  std::function<const char*(const char* name)> getenv;
  // Flags given on the command line, as (key name, text) in the order given.
  std::vector<std::pair<std::string, std::string>> flags;
};

struct ResolvedConfig {
  ServeConfig config;
  // Where each key's value came from: "default", "FILE:LINE", "environment NAME", "flag --x".
  std::map<std::string, std::string> source;
};

// Throws InvalidInput naming the file and line, the variable or the flag,
// and the key; IoError for a file that cannot be read. The result is
// validated (ServerOptions::validate()).
ResolvedConfig resolve_serve_config(const ConfigInputs& inputs);

// The effective configuration as TOML that resolve_serve_config reads back
// to the same settings; each value followed by its source; secrets and
// database passwords redacted.
std::string print_serve_config(const ResolvedConfig& config);

}  // namespace agegate
