// `agegate serve`'s configuration: defaults < TOML file < environment < flags (see config.h).
#include "agegate/serve/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <variant>

#include "agegate/core/csv.h"
#include "agegate/core/error.h"
#include "agegate/core/run_info.h"
#include "agegate/policy/policy.h"
#include "agegate/store/store.h"

namespace agegate {
namespace fs = std::filesystem;
namespace {

using Value = std::variant<int64_t, double, bool, std::string>;
using Type = ConfigKey::Type;

ConfigKey make_info(std::string name, std::string flag, std::string env, Type type, std::string help) {
  ConfigKey k;
  k.name = std::move(name);
  k.flag = std::move(flag);
  k.env = std::move(env);
  k.type = type;
  k.help = std::move(help);
  return k;
}

// One key: its public description plus how it reads and writes the struct.
struct Key {
  ConfigKey info;
  std::optional<std::pair<double, double>> range;  // numbers: inclusive bounds
  std::vector<std::string> choices;                 // strings: the allowed values (empty: any)
  bool path = false;                                // relative to a config file's folder
  std::function<void(ServeConfig&, const Value&)> set;
  std::function<std::optional<Value>(const ServeConfig&)> get;  // nullopt: unset
};

std::string env_name(const std::string& flag) {
  std::string e = "AGEGATE_";
  for (char c : flag.substr(2)) e += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return e;
}

template <class T, class Field>
Key integer(std::string name, std::string flag, std::string help, double lo, double hi, Field field) {
  Key k;
  k.info = make_info(std::move(name), flag, env_name(flag), Type::kInteger, std::move(help));
  k.range = {{lo, hi}};
  k.set = [field](ServeConfig& c, const Value& v) { field(c) = static_cast<T>(std::get<int64_t>(v)); };
  k.get = [field](const ServeConfig& c) -> std::optional<Value> {
    return int64_t(field(const_cast<ServeConfig&>(c)));
  };
  return k;
}

template <class T, class Field>
Key optional_number(std::string name, std::string flag, std::string help, double lo, double hi, Field field) {
  Key k;
  k.info = make_info(std::move(name), flag, env_name(flag), std::is_integral_v<T> ? Type::kInteger : Type::kNumber,
            std::move(help));
  k.info.optional = true;
  k.range = {{lo, hi}};
  k.set = [field](ServeConfig& c, const Value& v) {
    if constexpr (std::is_integral_v<T>) {
      field(c) = static_cast<T>(std::get<int64_t>(v));
    } else {
      field(c) = std::holds_alternative<double>(v) ? std::get<double>(v) : double(std::get<int64_t>(v));
    }
  };
  k.get = [field](const ServeConfig& c) -> std::optional<Value> {
    const auto& f = field(const_cast<ServeConfig&>(c));
    if (!f) return std::nullopt;
    if constexpr (std::is_integral_v<T>) return int64_t(*f);
    else return double(*f);
  };
  return k;
}

template <class Field>
Key text(std::string name, std::string flag, std::string help, Field field, bool optional = false) {
  Key k;
  k.info = make_info(std::move(name), flag, env_name(flag), Type::kString, std::move(help));
  k.info.optional = optional;
  k.set = [field](ServeConfig& c, const Value& v) { field(c) = std::get<std::string>(v); };
  k.get = [field, optional](const ServeConfig& c) -> std::optional<Value> {
    const std::string s = field(const_cast<ServeConfig&>(c));
    if (optional && s.empty()) return std::nullopt;
    return s;
  };
  return k;
}

template <class Field>
Key file_path(std::string name, std::string flag, std::string help, Field field) {
  Key k;
  k.info = make_info(std::move(name), flag, env_name(flag), Type::kString, std::move(help));
  k.info.optional = true;
  k.path = true;
  k.set = [field](ServeConfig& c, const Value& v) { field(c) = fs::path(std::get<std::string>(v)); };
  k.get = [field](const ServeConfig& c) -> std::optional<Value> {
    const fs::path& p = field(const_cast<ServeConfig&>(c));
    if (p.empty()) return std::nullopt;
    return p.string();
  };
  return k;
}

using C = ServeConfig;

// The key table, by TOML table. Each group appends its keys in the order
// deploy/serve.toml and --print-config list them.

// [listen] and [model]
void listen_and_model_keys(std::vector<Key>& keys) {
  auto add = [&](Key k) { keys.push_back(std::move(k)); };
  add(text("listen.host", "--host", "address to listen on", [](C& c) -> std::string& { return c.server.host; }));
  add(integer<int>("listen.port", "--port", "port (0 = any free port)", 0, 65535,
                   [](C& c) -> int& { return c.server.port; }));
  {
    Key k = file_path("model.file", "--model", "model file (.agm); SIGHUP or POST /admin/reload loads it anew",
                      [](C& c) -> fs::path& { return c.server.pipeline.model; });
    k.info.env = "AGEGATE_MODEL";
    k.info.optional = false;
    k.get = [](const C& c) -> std::optional<Value> {
      return (c.server.pipeline.model.empty() ? default_model_path() : c.server.pipeline.model).string();
    };
    add(std::move(k));
  }
  add(file_path("model.detector", "--detector-model", "YuNet face detector (.onnx); unset: the default in the weights folder",
                [](C& c) -> fs::path& { return c.server.pipeline.detector_model; }));
  {
    Key k;
    k.info = make_info("model.detect", "--detect", "AGEGATE_DETECT", Type::kString, "auto|on|off: find faces in raw camera photos");
    k.choices = {"auto", "on", "off"};
    k.set = [](C& c, const Value& v) { c.server.pipeline.detect = parse_detect_mode(std::get<std::string>(v)); };
    k.get = [](const C& c) -> std::optional<Value> { return std::string(to_string(c.server.pipeline.detect)); };
    add(std::move(k));
  }
  {
    Key k;
    k.info = make_info("model.calibrated", "--no-calibration", "AGEGATE_CALIBRATED", Type::kBool,
              "false: the raw distribution (temperature 1), not the model file's calibration");
    k.info.switch_value = "false";
    k.set = [](C& c, const Value& v) { c.server.pipeline.calibrated = std::get<bool>(v); };
    k.get = [](const C& c) -> std::optional<Value> { return c.server.pipeline.calibrated; };
    add(std::move(k));
  }
  {
    Key k;
    k.info = make_info("model.flip_average", "--flip-average", "AGEGATE_FLIP_AVERAGE", Type::kString,
              "on: average each face with its mirror image (about twice the time); off: one pass; "
              "unset: the model file's default");
    k.info.optional = true;
    k.choices = {"on", "off"};
    k.set = [](C& c, const Value& v) { c.server.pipeline.flip_average = std::get<std::string>(v) == "on"; };
    k.get = [](const C& c) -> std::optional<Value> {
      if (!c.server.pipeline.flip_average) return std::nullopt;
      return std::string(*c.server.pipeline.flip_average ? "on" : "off");
    };
    add(std::move(k));
  }
}

// [policy]: unset keys leave the model's retuned policy
void policy_keys(std::vector<Key>& keys) {
  auto add = [&](Key k) { keys.push_back(std::move(k)); };
  add(file_path("policy.file", "--policy", "policy JSON file: the base instead of the model's retuned policy",
                [](C& c) -> fs::path& { return c.server.policy.file; }));
  add(optional_number<int>("policy.legal_age", "--legal-age", "legal age for alcohol (default 18)", 1, kMaxAge,
                           [](C& c) -> std::optional<int>& { return c.server.policy.legal_age; }));
  add(optional_number<int>("policy.challenge_age", "--challenge-age",
                           "ask for ID below this estimate (default: the model's retuned policy, else 25)", 1, kMaxAge,
                           [](C& c) -> std::optional<int>& { return c.server.policy.challenge_age; }));
  add(optional_number<double>("policy.max_risk", "--max-risk",
                              "largest accepted P(under legal age) (default: the model's retuned policy, else 0.01)", 0,
                              0.999999, [](C& c) -> std::optional<double>& { return c.server.policy.max_risk; }));
  {
    Key k = optional_number<double>("policy.interval_level", "--level", "interval level (default 0.9)", 1e-6,
                                    0.999999, [](C& c) -> std::optional<double>& { return c.server.policy.interval_level; });
    k.info.env = "AGEGATE_INTERVAL_LEVEL";
    add(std::move(k));
  }
}

// [limits]
void limits_keys(std::vector<Key>& keys) {
  auto add = [&](Key k) { keys.push_back(std::move(k)); };
  add(integer<int>("limits.threads", "--threads", "estimations running at once", 1, 1024,
                   [](C& c) -> int& { return c.server.threads; }));
  add(integer<int>("limits.torch_threads", "--torch-threads",
                   "tensor and OpenCV threads per estimation (0 = cores / threads)", 0, 1024,
                   [](C& c) -> int& { return c.server.pipeline.threads; }));
  add(integer<int>("limits.max_queue", "--max-queue", "estimations waiting; beyond this: 503", 0, 1000000,
                   [](C& c) -> int& { return c.server.max_queue; }));
  add(integer<int>("limits.max_connections", "--max-connections", "connections open at once; beyond: closed at once",
                   2, 1000000, [](C& c) -> int& { return c.server.max_connections; }));
  add(integer<int>("limits.read_deadline_ms", "--read-deadline-ms",
                   "a request (line, headers, body) must arrive whole within this", 1, 3600000,
                   [](C& c) -> int& { return c.server.read_deadline_ms; }));
  add(integer<int>("limits.keep_alive_ms", "--keep-alive-ms", "idle time allowed between requests on one connection",
                   0, 3600000, [](C& c) -> int& { return c.server.keep_alive_ms; }));
  add(integer<int>("limits.keep_alive_requests", "--keep-alive-requests", "requests per connection", 1, 1000000,
                   [](C& c) -> int& { return c.server.keep_alive_requests; }));
  add(integer<int64_t>("limits.max_body_bytes", "--max-body-bytes", "largest request body", 1, 1e9,
                       [](C& c) -> int64_t& { return c.server.max_body_bytes; }));
  add(integer<int64_t>("limits.max_pixels", "--max-pixels", "largest image (width x height)", 1, 1e9,
                       [](C& c) -> int64_t& { return c.server.max_pixels; }));
  add(integer<int>("limits.timeout_ms", "--timeout-ms", "time limit per request", 1, 3600000,
                   [](C& c) -> int& { return c.server.request_timeout_ms; }));
}

// [tls], [auth] and [admin]
void security_keys(std::vector<Key>& keys) {
  auto add = [&](Key k) { keys.push_back(std::move(k)); };
  add(file_path("tls.cert", "--tls-cert", "PEM certificate (chain): serve HTTPS only; re-read on reload",
                [](C& c) -> fs::path& { return c.server.tls_cert; }));
  add(file_path("tls.key", "--tls-key", "PEM private key of tls.cert; re-read on reload",
                [](C& c) -> fs::path& { return c.server.tls_key; }));
  add(file_path("tls.client_ca", "--tls-client-ca",
                "PEM CA: accept only terminals with a client certificate it signed (mutual TLS)",
                [](C& c) -> fs::path& { return c.server.tls_client_ca; }));
  {
    Key k = text("auth.token", "--token",
                 "a bearer token, 16+ characters (command line or environment only; in a file use auth.token_file)",
                 [](C& c) -> std::string& { return c.server.token; }, true);
    k.info.secret = true;
    add(std::move(k));
  }
  add(file_path("auth.token_file", "--token-file",
                "accepted bearer tokens, one per line ('#' comments); several for rotation; re-read on reload",
                [](C& c) -> fs::path& { return c.server.token_file; }));
  add(integer<int>("auth.max_failures", "--auth-max-failures",
                   "failed authentications from one address within a minute before it gets 429", 1, 1000000,
                   [](C& c) -> int& { return c.server.auth.max_failures; }));
  add(integer<int>("auth.block_seconds", "--auth-block-seconds",
                   "how long such an address is refused (doubles while it keeps failing)", 1, 86400,
                   [](C& c) -> int& { return c.server.auth.block_seconds; }));
  {
    Key k = integer<int>("admin.port", "--admin-port",
                         "serve /healthz, /readyz, /metrics and POST /admin/reload on this plain-HTTP port instead "
                         "(0 = any free port; unset: on the main port, without /admin/reload)",
                         0, 65535, [](C& c) -> int& { return c.server.admin_port; });
    k.info.optional = true;
    k.get = [](const C& c) -> std::optional<Value> {
      if (c.server.admin_port < 0) return std::nullopt;
      return int64_t(c.server.admin_port);
    };
    add(std::move(k));
  }
  add(text("admin.host", "--admin-host", "address of admin.port", [](C& c) -> std::string& { return c.server.admin_host; }));
}

// [records], [recommendations] and [log]
void records_and_log_keys(std::vector<Key>& keys) {
  auto add = [&](Key k) { keys.push_back(std::move(k)); };
  add(text("records.db", "--db",
           "record checkout events and sales: sqlite:PATH or postgresql://... (a password only through libpq's "
           "passfile=, never in this file)",
           [](C& c) -> std::string& { return c.server.db; }, true));
  add(integer<int>("records.retention_days", "--retention-days", "prune records older than this, hourly (0 = keep)", 0,
                   36500, [](C& c) -> int& { return c.server.retention_days; }));
  add(file_path("recommendations.file", "--recommendations",
                "answer GET /v1/recommendations from this recommendations.json (written by agegate insights)",
                [](C& c) -> fs::path& { return c.server.recommendations; }));
  {
    Key k;
    k.info = make_info("log.format", "--log-format", "AGEGATE_LOG_FORMAT", Type::kString,
              "plain|json: json writes one object per line (time, level, event, fields) for log shippers");
    k.choices = {"plain", "json"};
    k.set = [](C& c, const Value& v) { c.log_format = parse_log_format(std::get<std::string>(v)); };
    k.get = [](const C& c) -> std::optional<Value> { return std::string(to_string(c.log_format)); };
    add(std::move(k));
  }
  {
    Key k = text("log.level", "--log-level", "trace|debug|info|warn|error|off",
                 [](C& c) -> std::string& { return c.log_level; });
    k.choices = {"trace", "debug", "info", "warn", "error", "off"};
    add(std::move(k));
  }
}

std::vector<Key> make_keys() {
  std::vector<Key> keys;
  listen_and_model_keys(keys);
  policy_keys(keys);
  limits_keys(keys);
  security_keys(keys);
  records_and_log_keys(keys);
  return keys;
}

const std::vector<Key>& keys() {
  static const std::vector<Key> k = make_keys();
  return k;
}

const Key* find_key(const std::string& name) {
  for (const auto& k : keys()) {
    if (k.info.name == name) return &k;
  }
  return nullptr;
}

const char* type_name(Type t) {
  switch (t) {
    case Type::kInteger: return "a whole number";
    case Type::kNumber: return "a number";
    case Type::kBool: return "true or false";
    case Type::kString: return "a string";
  }
  return "?";
}

// A database URL with a password in it (the store's redaction changes it).
bool url_has_password(const std::string& url) { return redact_store_url(url) != url; }

// Checks a value against the key's type, range and choices; `where` names
// the source ("serve.toml:12: key 'limits.threads'") in the error.
void check(const Key& k, const Value& v, const std::string& where) {
  if (k.range) {
    const double x = std::holds_alternative<int64_t>(v) ? double(std::get<int64_t>(v)) : std::get<double>(v);
    if (x < k.range->first || x > k.range->second) {
      std::ostringstream o;
      o << where << ": " << x << " is out of range (" << k.range->first << ".." << k.range->second << ")";
      throw InvalidInput(o.str());
    }
  }
  if (!k.choices.empty()) {
    const std::string& s = std::get<std::string>(v);
    if (std::find(k.choices.begin(), k.choices.end(), s) == k.choices.end()) {
      std::string list;
      for (const auto& c : k.choices) list += (list.empty() ? "" : ", ") + c;
      throw InvalidInput(where + ": '" + s + "' is not one of " + list);
    }
  }
}

// Text from the environment or a flag, read as the key's type.
Value from_text(const Key& k, const std::string& s, const std::string& where) {
  switch (k.info.type) {
    case Type::kInteger: {
      const auto v = parse_integer(s);
      if (!v) throw InvalidInput(where + ": expected " + type_name(k.info.type) + ", got '" + s + "'");
      return *v;
    }
    case Type::kNumber: {
      const auto v = parse_number(s);
      if (!v) throw InvalidInput(where + ": expected " + type_name(k.info.type) + ", got '" + s + "'");
      return *v;
    }
    case Type::kBool:
      if (s == "true" || s == "on" || s == "1" || s == "yes") return true;
      if (s == "false" || s == "off" || s == "0" || s == "no") return false;
      throw InvalidInput(where + ": expected true or false, got '" + s + "'");
    case Type::kString: return s;
  }
  return s;
}

// A TOML node read as the key's type (an integer is also a number).
std::optional<Value> from_node(const Key& k, const toml::node& n) {
  switch (k.info.type) {
    case Type::kInteger:
      if (auto v = n.as_integer()) return v->get();
      return std::nullopt;
    case Type::kNumber:
      if (auto v = n.as_floating_point()) return v->get();
      if (auto v = n.as_integer()) return double(v->get());
      return std::nullopt;
    case Type::kBool:
      if (auto v = n.as_boolean()) return v->get();
      return std::nullopt;
    case Type::kString:
      if (auto v = n.as_string()) return v->get();
      return std::nullopt;
  }
  return std::nullopt;
}

const char* node_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "a whole number";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date or time";
  }
}

// "did you mean 'listen.port'?" for a key whose last part is known.
std::string suggestion(const std::string& name) {
  const std::string last = name.substr(name.rfind('.') == std::string::npos ? 0 : name.rfind('.') + 1);
  for (const auto& k : keys()) {
    const std::string& n = k.info.name;
    if (n.substr(n.rfind('.') + 1) == last && n != name) return " (did you mean '" + n + "'?)";
  }
  return "";
}

void apply(ResolvedConfig& out, const Key& k, const Value& v, const std::string& where, const std::string& source) {
  check(k, v, where);
  try {
    k.set(out.config, v);
  } catch (const InvalidInput& e) {
    throw InvalidInput(where + ": " + e.what());
  }
  out.source[k.info.name] = source;
}

void read_table(ResolvedConfig& out, const toml::table& table, const std::string& prefix, const fs::path& file) {
  for (const auto& [key, node] : table) {
    const std::string name = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    const std::string at = file.string() + ":" + std::to_string(node.source().begin.line);
    if (node.is_table() && !find_key(name)) {
      const bool known_table = std::any_of(keys().begin(), keys().end(),
                                           [&](const Key& k) { return k.info.name.rfind(name + ".", 0) == 0; });
      if (!known_table) throw InvalidInput(at + ": unknown table '" + name + "'" + suggestion(name));
      read_table(out, *node.as_table(), name, file);
      continue;
    }
    const Key* k = find_key(name);
    const std::string where = at + ": key '" + name + "'";
    if (!k) throw InvalidInput(at + ": unknown key '" + name + "'" + suggestion(name));
    if (k->info.secret) {
      throw InvalidInput(where + ": a secret is never read from a config file; name a file with auth.token_file "
                         "(or set " + k->info.env + ")");
    }
    std::optional<Value> v = from_node(*k, node);
    if (!v) {
      throw InvalidInput(where + ": expected " + type_name(k->info.type) + ", got " + node_type_name(node));
    }
    if (k->path && !std::get<std::string>(*v).empty()) {
      const fs::path p(std::get<std::string>(*v));
      if (p.is_relative()) v = (file.parent_path() / p).lexically_normal().string();
    }
    if (k->info.name == "records.db" && url_has_password(std::get<std::string>(*v))) {
      throw InvalidInput(where + ": a database password is never read from a config file; use libpq's passfile "
                         "(postgresql://user@host/db?passfile=/etc/agegate/pgpass) or PGPASSFILE");
    }
    apply(out, *k, *v, where, at);
  }
}

void read_file(ResolvedConfig& out, const fs::path& file) {
  if (!fs::exists(file)) throw IoError(file.string() + ": config file not found");
  toml::table table;
  try {
    table = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw InvalidInput(file.string() + ":" + std::to_string(e.source().begin.line) + ": not valid TOML: " +
                       std::string(e.description()));
  }
  read_table(out, table, "", file);
}

std::string toml_value(const Value& v) {
  std::ostringstream o;
  if (const auto* i = std::get_if<int64_t>(&v)) {
    o << *i;
  } else if (const auto* d = std::get_if<double>(&v)) {
    o << toml::value<double>(*d);
  } else if (const auto* b = std::get_if<bool>(&v)) {
    o << (*b ? "true" : "false");
  } else {
    o << toml::value<std::string>(std::get<std::string>(v));
  }
  return o.str();
}

}  // namespace

const std::vector<ConfigKey>& serve_config_keys() {
  static const std::vector<ConfigKey> list = [] {
    std::vector<ConfigKey> out;
    for (const auto& k : keys()) out.push_back(k.info);
    return out;
  }();
  return list;
}

ResolvedConfig resolve_serve_config(const ConfigInputs& in) {
  ResolvedConfig out;
  for (const auto& k : keys()) out.source[k.info.name] = "default";
  if (!in.file.empty()) read_file(out, in.file);
  const auto getenv = in.getenv ? in.getenv : [](const char* n) -> const char* { return std::getenv(n); };
  for (const auto& k : keys()) {
    const char* e = getenv(k.info.env.c_str());
    if (!e || !*e) continue;
    const std::string source = "environment " + k.info.env;
    const std::string where = source + " (key '" + k.info.name + "')";
    apply(out, k, from_text(k, e, where), where, source);
  }
  for (const auto& [name, value] : in.flags) {
    const Key* k = find_key(name);
    if (!k) throw InvalidInput("serve: no configuration key '" + name + "'");
    const std::string source = "flag " + k->info.flag;
    const std::string where = source + " (key '" + name + "')";
    const std::string text = k->info.switch_value.empty() ? value : k->info.switch_value;
    apply(out, *k, from_text(*k, text, where), where, source);
  }
  out.config.server.validate();
  return out;
}

std::string print_serve_config(const ResolvedConfig& c) {
  std::ostringstream o;
  o << "# agegate serve: the effective configuration (flags > environment > file > defaults).\n"
    << "# Each value is followed by where it came from; secrets are never printed.\n";
  std::string table;
  for (const auto& k : keys()) {
    const std::string& name = k.info.name;
    const std::string t = name.substr(0, name.find('.'));
    const std::string leaf = name.substr(name.find('.') + 1);
    if (t != table) {
      o << "\n[" << t << "]\n";
      table = t;
    }
    const auto src = c.source.find(name);
    const std::string from = src == c.source.end() ? "default" : src->second;
    const std::optional<Value> v = k.get(c.config);
    if (k.info.secret) {
      o << "# " << leaf << ": " << (v ? "set (redacted), from " + from : std::string("unset")) << "\n";
    } else if (!v) {
      o << "# " << leaf << ": unset\n";
    } else if (name == "records.db") {
      o << leaf << " = " << toml_value(redact_store_url(std::get<std::string>(*v))) << "  # " << from << "\n";
    } else {
      o << leaf << " = " << toml_value(*v) << "  # " << from << "\n";
    }
  }
  return o.str();
}

}  // namespace agegate
