// serve's configuration parser (serve/config.h): precedence, every error
// class, secrets, and deploy/serve.toml against the key table both ways.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/serve/config.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;

const fs::path kExample = fs::path(AGEGATE_TEST_SOURCE_DIR) / "deploy" / "serve.toml";

fs::path write_config(const std::string& name, const std::string& text) {
  const fs::path p = testing::scratch_dir("config") / name;
  std::ofstream(p) << text;
  return p;
}

// An environment of our own: nothing from the test's process leaks in.
std::function<const char*(const char*)> env_of(std::map<std::string, std::string> vars) {
  auto held = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [held](const char* name) -> const char* {
    const auto it = held->find(name);
    return it == held->end() ? nullptr : it->second.c_str();
  };
}

ResolvedConfig resolve(const fs::path& file, std::map<std::string, std::string> env = {},
                       std::vector<std::pair<std::string, std::string>> flags = {}) {
  ConfigInputs in;
  in.file = file;
  in.getenv = env_of(std::move(env));
  in.flags = std::move(flags);
  return resolve_serve_config(in);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ServeConfig, FlagsBeatEnvironmentBeatFileBeatDefaults) {
  const fs::path file = write_config("precedence.toml",
                                     "[listen]\nport = 7001\nhost = \"0.0.0.0\"\n[limits]\nthreads = 3\nmax_queue = 5\n");
  // Defaults alone.
  ResolvedConfig d = resolve({});
  EXPECT_EQ(d.config.server.port, ServerOptions::kDefaultPort);
  EXPECT_EQ(d.source.at("listen.port"), "default");
  // File over defaults.
  ResolvedConfig f = resolve(file);
  EXPECT_EQ(f.config.server.port, 7001);
  EXPECT_EQ(f.config.server.host, "0.0.0.0");
  EXPECT_EQ(f.config.server.threads, 3);
  EXPECT_EQ(f.source.at("listen.port"), file.string() + ":2");
  EXPECT_EQ(f.config.server.keep_alive_ms, ServerOptions{}.keep_alive_ms);  // untouched keys keep their defaults
  // Environment over the file.
  ResolvedConfig e = resolve(file, {{"AGEGATE_PORT", "7002"}, {"AGEGATE_THREADS", "4"}});
  EXPECT_EQ(e.config.server.port, 7002);
  EXPECT_EQ(e.config.server.threads, 4);
  EXPECT_EQ(e.config.server.max_queue, 5);
  EXPECT_EQ(e.source.at("listen.port"), "environment AGEGATE_PORT");
  // Flags over the environment.
  ResolvedConfig g = resolve(file, {{"AGEGATE_PORT", "7002"}}, {{"listen.port", "7003"}});
  EXPECT_EQ(g.config.server.port, 7003);
  EXPECT_EQ(g.source.at("listen.port"), "flag --port");
  EXPECT_EQ(g.config.server.host, "0.0.0.0");
}

TEST(ServeConfig, EveryKindOfValueReachesTheOptions) {
  const fs::path file = write_config("kinds.toml", R"(
[model]
detect = "off"
calibrated = false
flip_average = "on"
[policy]
challenge_age = 30
max_risk = 0         # an integer is a number too
interval_level = 0.95
[limits]
max_body_bytes = 1048576
[admin]
port = 9091
[records]
db = "sqlite:records.db"
retention_days = 7
[log]
format = "json"
level = "debug"
)");
  const ResolvedConfig r = resolve(file, {}, {{"policy.interval_level", "0.8"}});
  const ServerOptions& o = r.config.server;
  EXPECT_EQ(o.pipeline.detect, DetectMode::kOff);
  EXPECT_FALSE(o.pipeline.calibrated);
  ASSERT_TRUE(o.pipeline.flip_average.has_value());
  EXPECT_TRUE(*o.pipeline.flip_average);
  EXPECT_EQ(o.policy.challenge_age, 30);
  EXPECT_DOUBLE_EQ(*o.policy.max_risk, 0.0);
  EXPECT_DOUBLE_EQ(*o.policy.interval_level, 0.8);
  EXPECT_FALSE(o.policy.legal_age.has_value());  // unset: the model's retuned policy decides
  EXPECT_EQ(o.max_body_bytes, 1048576);
  EXPECT_EQ(o.admin_port, 9091);
  EXPECT_EQ(o.db, "sqlite:records.db");  // not a path key: given as written
  EXPECT_EQ(o.retention_days, 7);
  EXPECT_EQ(r.config.log_format, LogFormat::kJson);
  EXPECT_EQ(r.config.log_level, "debug");
  // The --no-calibration switch and an "on" from the environment.
  const ResolvedConfig s = resolve({}, {{"AGEGATE_CALIBRATED", "on"}}, {{"model.calibrated", ""}});
  EXPECT_FALSE(s.config.server.pipeline.calibrated);
}

TEST(ServeConfig, RelativePathsInAFileAreRelativeToTheFile) {
  const fs::path file = write_config("paths.toml", "[model]\nfile = \"models/m.agm\"\n[tls]\ncert = \"/abs/c.pem\"\nkey = \"k.pem\"\n");
  const ResolvedConfig r = resolve(file);
  EXPECT_EQ(r.config.server.pipeline.model, file.parent_path() / "models" / "m.agm");
  EXPECT_EQ(r.config.server.tls_cert, fs::path("/abs/c.pem"));
  EXPECT_EQ(r.config.server.tls_key, file.parent_path() / "k.pem");
  // A relative path from a flag stays relative to the working folder.
  EXPECT_EQ(resolve({}, {}, {{"model.file", "m.agm"}}).config.server.pipeline.model, fs::path("m.agm"));
}

TEST(ServeConfig, EveryErrorNamesItsFileLineAndKey) {
  struct Case {
    std::string text, expect;
  };
  const std::vector<Case> cases = {
      {"[listen]\nport = \"8080\"\n", ":2: key 'listen.port': expected a whole number, got a string"},
      {"[listen]\n\nport = 70000\n", ":3: key 'listen.port': 70000 is out of range (0..65535)"},
      {"[limits]\nthreads = 0\n", ":2: key 'limits.threads': 0 is out of range (1..1024)"},
      {"[policy]\nmax_risk = 1.5\n", ":2: key 'policy.max_risk': 1.5 is out of range"},
      {"[model]\ndetect = \"maybe\"\n", ":2: key 'model.detect': 'maybe' is not one of auto, on, off"},
      {"[model]\ncalibrated = \"no\"\n", ":2: key 'model.calibrated': expected true or false, got a string"},
      {"[listen]\nprot = 1\n", ":2: unknown key 'listen.prot'"},
      {"port = 1\n", ":1: unknown key 'port' (did you mean 'listen.port'?)"},
      {"[lisen]\nport = 1\n", ":1: unknown table 'lisen'"},
      {"[limits]\nthreads = [1, 2]\n", ":2: key 'limits.threads': expected a whole number, got an array"},
      {"[listen]\nport = 1\n[listen]\nhost = \"x\"\n", ":3: not valid TOML"},
      {"[auth]\ntoken = \"0123456789abcdef0123\"\n",
       ":2: key 'auth.token': a secret is never read from a config file"},
      {"[records]\ndb = \"postgresql://agegate:hunter2@db/agegate\"\n",
       ":2: key 'records.db': a database password is never read from a config file"},
      {"[records]\ndb = \"postgresql://db/agegate?password=hunter2\"\n",
       ":2: key 'records.db': a database password is never read"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const fs::path file = write_config("bad" + std::to_string(i) + ".toml", cases[i].text);
    const std::string err = error_of([&] { resolve(file); });
    EXPECT_NE(err.find(file.string() + cases[i].expect), std::string::npos) << cases[i].text << " -> " << err;
    EXPECT_EQ(err.find("hunter2"), std::string::npos) << "the password reached the error";
  }
  // The environment and flags are named the same way.
  EXPECT_NE(error_of([] { resolve({}, {{"AGEGATE_PORT", "eighty"}}); })
                .find("environment AGEGATE_PORT (key 'listen.port'): expected a whole number, got 'eighty'"),
            std::string::npos);
  EXPECT_NE(error_of([] { resolve({}, {}, {{"limits.max_queue", "-1"}}); })
                .find("flag --max-queue (key 'limits.max_queue'): -1 is out of range"),
            std::string::npos);
  // A missing file is an I/O error naming it; settings that only clash together are named too.
  EXPECT_THROW(resolve("/nonexistent/serve.toml"), IoError);
  const fs::path half_tls = write_config("half-tls.toml", "[tls]\ncert = \"/c.pem\"\n");
  EXPECT_NE(error_of([&] { resolve(half_tls); }).find("--tls-cert and --tls-key go together"), std::string::npos);
}

TEST(ServeConfig, SecretsComeOnlyFromFlagsOrEnvironmentAndAreNeverPrinted) {
  const ResolvedConfig r =
      resolve({}, {{"AGEGATE_TOKEN", "env-token-0123456789"}, {"AGEGATE_DB", "postgresql://u:hunter2@db/x"}});
  EXPECT_EQ(r.config.server.token, "env-token-0123456789");
  EXPECT_EQ(r.config.server.db, "postgresql://u:hunter2@db/x");  // the environment may hold one
  const std::string printed = print_serve_config(r);
  EXPECT_EQ(printed.find("env-token"), std::string::npos) << printed;
  EXPECT_EQ(printed.find("hunter2"), std::string::npos) << printed;
  EXPECT_NE(printed.find("# token: set (redacted), from environment AGEGATE_TOKEN"), std::string::npos) << printed;
  EXPECT_NE(printed.find("db = 'postgresql://u:***@db/x'"), std::string::npos) << printed;
}

// Printing and reading back gives the same configuration, for the defaults,
// the shipped example and a file that sets every key to a non-default value.
TEST(ServeConfig, PrintedConfigurationReadsBackTheSame) {
  for (const fs::path& file : {fs::path(), kExample}) {
    const ResolvedConfig first = resolve(file);
    const std::string printed = print_serve_config(first);
    const fs::path again = write_config("printed.toml", printed);
    const ResolvedConfig second = resolve(again);
    const std::regex source("  # .*");  // the sources differ (now the printed file); the values may not
    EXPECT_EQ(std::regex_replace(print_serve_config(second), source, ""), std::regex_replace(printed, source, ""))
        << file;
  }
}

// Every key of the table changes the options: set each to a value other than
// its default and exactly that key's printed value changes.
TEST(ServeConfig, EveryKeyReachesItsOwnField) {
  const std::string base = print_serve_config(resolve({}));
  std::map<std::string, std::string> other = {
      {"listen.host", "10.0.0.1"},  {"listen.port", "81"},          {"model.file", "/m.agm"},
      {"model.detector", "/d.onnx"}, {"model.detect", "on"},        {"model.calibrated", "false"},
      {"model.flip_average", "on"}, {"policy.file", "/p.json"},     {"policy.legal_age", "21"},
      {"policy.challenge_age", "27"}, {"policy.max_risk", "0.05"},  {"policy.interval_level", "0.8"},
      {"limits.threads", "3"},      {"limits.torch_threads", "2"},  {"limits.max_queue", "9"},
      {"limits.max_connections", "99"}, {"limits.read_deadline_ms", "99"}, {"limits.keep_alive_ms", "99"},
      {"limits.keep_alive_requests", "99"}, {"limits.max_body_bytes", "99"}, {"limits.max_pixels", "99"},
      {"limits.timeout_ms", "99"},  {"tls.cert", "/c.pem"},         {"tls.key", "/k.pem"},
      {"tls.client_ca", "/ca.pem"}, {"auth.token", "0123456789abcdef-x"}, {"auth.token_file", "/t"},
      {"auth.max_failures", "9"},   {"auth.block_seconds", "9"},    {"admin.port", "9099"},
      {"admin.host", "127.0.0.2"},  {"records.db", "sqlite:/x.db"}, {"records.retention_days", "9"},
      {"recommendations.file", "/r.json"}, {"log.format", "json"}, {"log.level", "warn"}};
  std::set<std::string> table;
  for (const ConfigKey& k : serve_config_keys()) table.insert(k.name);
  std::set<std::string> covered;
  for (const auto& [k, v] : other) covered.insert(k);
  EXPECT_EQ(covered, table) << "a key without a test value here, or a test value for no key";
  for (const auto& [key, value] : other) {
    std::vector<std::pair<std::string, std::string>> flags = {{key, value}};
    if (key.rfind("tls.", 0) == 0) {  // certificate and key go together
      flags = {{"tls.cert", "/c.pem"}, {"tls.key", "/k.pem"}};
      if (key == "tls.client_ca") flags.emplace_back(key, value);
    }
    const std::string printed = print_serve_config(resolve({}, {}, flags));
    EXPECT_NE(printed, base) << key << " changed nothing";
    std::istringstream a(base), b(printed);
    int changed = 0;
    for (std::string la, lb; std::getline(a, la) && std::getline(b, lb);) changed += la != lb;
    EXPECT_EQ(changed, static_cast<int>(flags.size())) << key << ":\n" << printed;
  }
}

// deploy/serve.toml documents every key of the table, set or commented out,
// in its own table, and nothing else.
TEST(ServeConfig, TheExampleDocumentsEveryKeyAndNoOther) {
  std::ifstream in(kExample);
  ASSERT_TRUE(in) << kExample;
  std::set<std::string> documented;
  std::string table;
  const std::regex header(R"(^\[([a-z_]+)\]\s*$)");
  const std::regex key(R"(^#? ?([a-z_]+)(:| =) )");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, header)) {
      table = m[1];
    } else if (!table.empty() && std::regex_search(line, m, key)) {
      const std::string name = table + "." + std::string(m[1]);
      documented.insert(name);
    }
  }
  std::set<std::string> keys;
  for (const ConfigKey& k : serve_config_keys()) keys.insert(k.name);
  for (const auto& k : keys) EXPECT_TRUE(documented.count(k)) << k << " is not in deploy/serve.toml";
  for (const auto& k : documented) EXPECT_TRUE(keys.count(k)) << k << " in deploy/serve.toml is no key";
  // And it is a valid configuration as shipped.
  EXPECT_NO_THROW(resolve(kExample));
}

}  // namespace
}  // namespace agegate
