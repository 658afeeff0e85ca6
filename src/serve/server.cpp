// HTTP routes and JSON for the service, over its parts (admission.h, metrics.h,
// bearer_auth.h, transport.h, security.h); see server.h.
#include "agegate/serve/server.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "agegate/core/csv.h"
#include "agegate/core/error.h"
#include "agegate/core/interrupt.h"
#include "agegate/core/log.h"
#include "agegate/core/log_format.h"
#include "agegate/core/run_info.h"
#include "agegate/core/time.h"
#include "agegate/recommend/recommender.h"
#include "agegate/model/imagenet_import.h"
#include "agegate/model/model_file.h"
#include "agegate/serve/notify.h"
#include "agegate/store/store.h"
#include "admission.h"
#include "bearer_auth.h"
#include "metrics.h"
#include "transport.h"

namespace agegate {
namespace {
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr const char* kRetryAfterSeconds = "1";

// Every route either port serves: metrics count these by name, anything else as "other".
constexpr std::array<std::string_view, 7> kRoutes{"/v1/estimate", "/v1/sales", "/v1/recommendations", "/healthz",
                                                  "/readyz",      "/metrics",  "/admin/reload"};
bool known_route(const std::string& path) {
  return std::find(kRoutes.begin(), kRoutes.end(), path) != kRoutes.end();
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Health checks and scrapes need few connections; they must not crowd out the main port.
constexpr int kAdminConnections = 16;

// Answers carry text that came from clients (a bad header echoed in an
// error): bytes that are not UTF-8 become U+FFFD instead of an exception.
std::string json_text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void send_error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  res.status = status;
  res.set_content(json_text(json{{"error", {{"code", code}, {"message", message}}}}), "application/json");
}


}  // namespace

CheckoutContext checkout_context(const std::function<std::string(const std::string&)>& query,
                                 const std::function<std::string(const std::string&)>& header) {
  auto get = [&](const std::string& param, const std::string& name) {
    std::string v = query(param);
    return v.empty() ? header("X-Agegate-" + name) : v;
  };
  CheckoutContext c;
  c.store = get("store", "Store");
  c.lane = get("lane", "Lane");
  c.transaction = get("transaction", "Transaction");
  c.cashier = get("cashier", "Cashier");
  const std::string time = get("time", "Time");
  if (!time.empty()) c.time_ms = parse_iso8601(time, "checkout context: field 'time'");
  return c;
}

int http_status_for(const std::exception& e, std::string* code) {
  if (dynamic_cast<const InvalidInput*>(&e)) {
    *code = "bad_request";
    return 400;
  }
  *code = "internal";
  return 500;
}

void ServerOptions::validate() const {
  if (port < 0 || port > 65535) throw InvalidInput("serve: --port must be 0..65535");
  if (threads < 1) throw InvalidInput("serve: --threads must be >= 1");
  if (max_queue < 0) throw InvalidInput("serve: --max-queue must be >= 0");
  if (max_connections < threads + 1) throw InvalidInput("serve: --max-connections must exceed --threads");
  if (read_deadline_ms < 1) throw InvalidInput("serve: --read-deadline-ms must be >= 1");
  if (keep_alive_ms < 0) throw InvalidInput("serve: --keep-alive-ms must be >= 0");
  if (keep_alive_requests < 1) throw InvalidInput("serve: --keep-alive-requests must be >= 1");
  if (max_body_bytes < 1) throw InvalidInput("serve: --max-body-bytes must be >= 1");
  if (max_pixels < 1) throw InvalidInput("serve: --max-pixels must be >= 1");
  if (request_timeout_ms < 1) throw InvalidInput("serve: --timeout-ms must be >= 1");
  if (retention_days < 0) throw InvalidInput("serve: --retention-days must be >= 0");
  if (tls_cert.empty() != tls_key.empty()) throw InvalidInput("serve: --tls-cert and --tls-key go together");
  if (!tls_client_ca.empty() && tls_cert.empty()) {
    throw InvalidInput("serve: --tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS)");
  }
  if (admin_port > 65535 || admin_port < -1) throw InvalidInput("serve: --admin-port must be 0..65535");
  if (admin_port >= 0 && admin_port == port && port != 0 && admin_host == host) {
    throw InvalidInput("serve: --admin-port must differ from --port");
  }
  auth.validate();
  if (!db.empty()) store_backend_of(db);  // InvalidInput for a malformed URL
  // The policy is resolved and validated with each model it is loaded for
  // (load_model); pipeline.policy is not used by the service.
}

// One loaded model and what is said about it. Requests hold it by
// shared_ptr, so a reload swaps the pointer while they finish on theirs.
struct ServedModel {
  std::unique_ptr<FacePipeline> pipeline;  // shared, read-only after loading
  json model_json;
  std::string model_id;            // "<file>@<created>", recorded with every event
  std::string sha256;              // of the file, hex
  std::string policy_text;         // the policy in force, compact JSON
};

struct Server::Impl {
  ServerOptions opt;
  mutable std::mutex model_mu;
  std::shared_ptr<const ServedModel> model;  // the one new requests get
  std::mutex reload_mu;                      // one reload at a time
  std::unique_ptr<Store> store;    // null when nothing is recorded
  std::optional<Recommender> recommender;  // absent without --recommendations
  std::thread maintenance;         // prunes records past retention
  std::mutex maintenance_mu;
  std::condition_variable maintenance_cv;
  bool maintenance_stop = false;
  std::unique_ptr<TlsContext> tls;            // null: plain HTTP; outlives http
  ConnectionStats connections;                // both ports
  std::unique_ptr<BoundedServer> http;        // speaks TLS when tls is set
  std::unique_ptr<BoundedServer> admin;       // health and metrics, when on their own port
  std::thread thread;
  std::thread admin_thread;
  std::atomic<bool> http_returned{false}, admin_returned{false};  // their listen loops ended
  int bound_port = -1;
  int admin_bound = -1;
  std::unique_ptr<BearerAuth> auth;            // tokens in force (none: no authentication) and the throttle
  Metrics metrics;
  std::unique_ptr<Admission> admission;  // bounded running + queued estimations; stop() drains it
  std::mutex hook_mu;
  std::function<void()> test_hook;

  std::shared_ptr<const ServedModel> current() const {
    std::lock_guard<std::mutex> lock(model_mu);
    return model;
  }
  std::shared_ptr<const ServedModel> load_model() const;
  // Reloads each configured file; `report` gets {"model"|"tls"|"tokens": {"reloaded": bool, "error"?}}.
  std::exception_ptr reload_all(json* report);
  void admin_reload(const httplib::Request& req, httplib::Response& res);
  bool acceptable(const httplib::Request& req, httplib::Response& res);
  bool authorise(const httplib::Request& req, httplib::Response& res);
  void load_tokens();
  // Decodes and estimates; false after sending an error. Fills `body` and,
  // when the request carries a context and a store is open, `event`.
  bool answer(const ServedModel& m, const httplib::Request& req, httplib::Response& res, Clock::time_point t0,
              double queued_ms, const CheckoutContext& context, json* body, std::optional<CheckoutEvent>* event);
  void record(const CheckoutEvent& event, json* body);
  void sales(const httplib::Request& req, httplib::Response& res);
  void recommendations(const httplib::Request& req, httplib::Response& res);
  void prune_loop();
  void estimate(const httplib::Request& req, httplib::Response& res);
  void routes();
  void health_routes(httplib::Server& server);
};

// --token and every line of --token-file; throws naming the file or flag.
void Server::Impl::load_tokens() {
  auto set = std::make_shared<TokenSet>();
  if (!opt.token_file.empty()) *set = TokenSet::from_file(opt.token_file);
  if (!opt.token.empty()) set->add(opt.token, "--token / AGEGATE_TOKEN");
  auth->replace(std::move(set));
}

bool Server::Impl::authorise(const httplib::Request& req, httplib::Response& res) {
  const BearerAuth::Verdict v = auth->check(req.get_header_value("Authorization"), req.remote_addr);
  switch (v.kind) {
    case BearerAuth::Verdict::kAllowed:
      return true;
    case BearerAuth::Verdict::kThrottled:
      res.set_header("Retry-After", std::to_string(v.retry_after_s));
      send_error(res, 429, "too_many_failures", "too many failed authentications from this address; retry later");
      return false;
    case BearerAuth::Verdict::kUnauthorized:
      break;
  }
  res.set_header("WWW-Authenticate", "Bearer");
  send_error(res, 401, "unauthorized", "missing or wrong bearer token");
  return false;
}

bool Server::Impl::acceptable(const httplib::Request& req, httplib::Response& res) {
  if (!authorise(req, res)) return false;
  const std::string type = req.get_header_value("Content-Type");
  const std::string media = type.substr(0, type.find(';'));
  if (media != "image/jpeg" && media != "image/png" && media != "application/octet-stream") {
    send_error(res, 415, "unsupported_media_type", "Content-Type must be image/jpeg, image/png or application/octet-stream");
    return false;
  }
  if (req.body.empty()) {
    send_error(res, 400, "empty_body", "the request body is empty; send a JPEG or PNG");
    return false;
  }
  if (static_cast<int64_t>(req.body.size()) > opt.max_body_bytes) {
    send_error(res, 413, "body_too_large", "body exceeds " + std::to_string(opt.max_body_bytes) + " bytes");
    return false;
  }
  const auto* bytes = reinterpret_cast<const uint8_t*>(req.body.data());
  if (sniff_format(bytes, req.body.size()) == ImageFormat::kUnknown) {
    send_error(res, 400, "not_an_image", "the body is neither JPEG nor PNG");
    return false;
  }
  ImageInfo info;
  try {
    info = read_image_info(bytes, req.body.size(), "request body");
  } catch (const InvalidInput& e) {
    send_error(res, 400, "bad_image", e.what());
    return false;
  }
  if (static_cast<int64_t>(info.width) * info.height > opt.max_pixels) {
    send_error(res, 413, "too_many_pixels", std::to_string(info.width) + "x" + std::to_string(info.height) +
                                                " exceeds " + std::to_string(opt.max_pixels) + " pixels");
    return false;
  }
  return true;
}

// Decode, run the pipeline, build the JSON answer and log sizes, timings and decisions (never pixels).
bool Server::Impl::answer(const ServedModel& m, const httplib::Request& req, httplib::Response& res,
                          Clock::time_point t0, double queued_ms, const CheckoutContext& context, json* out,
                          std::optional<CheckoutEvent>* event) {
  auto t1 = Clock::now();
  Image img;
  try {
    DecodeLimits limits;
    limits.max_pixels = opt.max_pixels;
    img = decode_image(reinterpret_cast<const uint8_t*>(req.body.data()), req.body.size(), "request body", limits);
  } catch (const InvalidInput& e) {
    send_error(res, 400, "bad_image", e.what());
    return false;
  }
  const double decode_ms = ms_since(t1);
  const PhotoResult result = m.pipeline->run(img);
  const std::vector<FaceResult>& estimates = result.faces;
  const Policy& policy = m.pipeline->policy();
  json out_faces = json::array();
  std::string decisions;
  for (const auto& f : estimates) {
    out_faces.push_back(to_json(f, policy));
    metrics.decision(to_string(f.decision.decision));
    decisions += (decisions.empty() ? "" : ",") + std::string(to_string(f.decision.decision));
  }
  if (estimates.empty()) metrics.decision("no_face");
  json body{{"faces", out_faces},
            {"main_face", estimates.empty() ? json(nullptr) : json(0)},
            {"policy", policy.to_json()},
            {"model", m.model_json},
            {"timing_ms",
             {{"queue", queued_ms}, {"decode", decode_ms}, {"detect", result.detect_ms},
              {"estimate", result.estimate_ms}, {"total", ms_since(t0)}}}};
  if (estimates.empty()) body["message"] = result.no_face_reason;
  const std::string terminal = peer_subject(req.ssl);
  if (store && !context.empty()) {
    // The record: the decision the till was given (main face), never pixels.
    CheckoutEvent& e = event->emplace();
    e.event_id = new_event_id();
    e.time_ms = context.time_ms.value_or(now_ms());
    e.context = context;
    e.terminal = terminal;
    e.model = m.model_id;
    e.policy = m.policy_text;
    e.faces = static_cast<int>(estimates.size());
    if (estimates.empty()) {
      e.decision = "no_face";
      e.reason = "no face found: ask for ID";
    } else {
      const PolicyResult& d = estimates.front().decision;
      e.decision = to_string(d.decision);
      e.reason = d.reason;
      e.estimate = d.estimate;
      e.low = d.low;
      e.high = d.high;
      e.p_under_legal = d.p_under_legal;
    }
    e.decode_ms = decode_ms;
    e.detect_ms = result.detect_ms;
    e.estimate_ms = result.estimate_ms;
    e.total_ms = ms_since(t0);
  }
  const double total_ms = ms_since(t0);
  json fields{{"width", img.width},    {"height", img.height}, {"bytes", req.body.size()},
              {"faces", estimates.size()}, {"decisions", decisions}, {"ms", total_ms}, {"model", m.sha256.substr(0, 16)}};
  if (!terminal.empty()) fields["terminal"] = terminal;
  log_event(spdlog::level::info, "estimate", fields,
            fmt::format("estimate: {}x{} {} bytes, {} face(s) [{}], {:.1f} ms{}", img.width, img.height,
                        req.body.size(), estimates.size(), decisions, total_ms,
                        terminal.empty() ? "" : ", terminal " + terminal));
  *out = std::move(body);
  return true;
}

// Writes the event; a database failure costs the till nothing but the record.
void Server::Impl::record(const CheckoutEvent& e, json* body) {
  try {
    store->record_event(e);
    metrics.event_recorded(true);
    (*body)["recorded"] = true;
    (*body)["event_id"] = e.event_id;
  } catch (const std::exception& ex) {
    metrics.event_recorded(false);
    log().error("checkout event not recorded: {}", ex.what());
    (*body)["recorded"] = false;
  }
}

void Server::Impl::estimate(const httplib::Request& req, httplib::Response& res) {
  const auto t0 = Clock::now();
  struct Observe {
    Metrics& m;
    Clock::time_point t0;
    ~Observe() { m.observe(ms_since(t0) / 1000.0); }
  } observe{metrics, t0};
  const auto deadline = t0 + std::chrono::milliseconds(opt.request_timeout_ms);
  // The model this request runs on, start to end, whatever a reload does meanwhile.
  const std::shared_ptr<const ServedModel> m = current();
  res.set_header("X-Agegate-Model", m->sha256);
  if (!acceptable(req, res)) return;
  CheckoutContext context;
  try {
    context = checkout_context([&](const std::string& k) { return req.get_param_value(k); },
                               [&](const std::string& k) { return req.get_header_value(k); });
    if (!context.empty()) context.validate("checkout context");
  } catch (const InvalidInput& e) {
    return send_error(res, 400, "bad_context", e.what());
  }
  // Admission: running + queued never exceeds threads + max_queue; the
  // ticket counts this request in flight until it is answered and recorded.
  Admission::Ticket ticket(*admission);
  if (ticket.outcome() != Admission::Outcome::kAdmitted) {
    res.set_header("Retry-After", kRetryAfterSeconds);
    if (ticket.outcome() == Admission::Outcome::kOverloaded) {
      return send_error(res, 503, "overloaded", "too many requests in flight; retry shortly");
    }
    return send_error(res, 503, "shutting_down", "the service is stopping; retry on another instance");
  }
  if (!ticket.wait_for_slot(deadline)) {
    res.set_header("Retry-After", kRetryAfterSeconds);
    return send_error(res, 503, "timeout", "waited longer than the request time limit");
  }
  const double queued_ms = ms_since(t0);
  std::function<void()> hook;
  {
    std::lock_guard<std::mutex> lock(hook_mu);
    hook = test_hook;
  }
  if (hook) hook();
  json body;
  std::optional<CheckoutEvent> event;
  if (!answer(*m, req, res, t0, queued_ms, context, &body, &event)) return;
  // The estimation is done: the next one may start while this one is recorded.
  ticket.free_slot();
  if (event) record(*event, &body);
  res.status = 200;
  res.set_content(json_text(body), "application/json");
}

// POST /v1/sales: one sale object, an array of them, or {"sales": [...]};
// all or nothing (a bad sale names its index and field and nothing is written).
void Server::Impl::sales(const httplib::Request& req, httplib::Response& res) {
  if (!authorise(req, res)) return;
  if (!store) return send_error(res, 503, "no_database", "this service records nothing; start it with --db");
  const std::string type = req.get_header_value("Content-Type");
  if (type.substr(0, type.find(';')) != "application/json") {
    return send_error(res, 415, "unsupported_media_type", "Content-Type must be application/json");
  }
  json body;
  try {
    body = json::parse(req.body);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for 1e999
    return send_error(res, 400, "bad_json", std::string("the body is not valid JSON: ") + e.what());
  }
  const json* list = &body;
  if (body.is_object() && body.contains("sales")) list = &body.at("sales");
  std::vector<Sale> parsed;
  try {
    if (list->is_array()) {
      for (size_t i = 0; i < list->size(); ++i) parsed.push_back(parse_sale((*list)[i], "sales[" + std::to_string(i) + "]"));
    } else {
      parsed.push_back(parse_sale(*list, "sale"));
    }
  } catch (const InvalidInput& e) {
    return send_error(res, 400, "bad_sale", e.what());
  }
  if (parsed.empty()) return send_error(res, 400, "bad_sale", "no sale in the body");
  SalesWritten w;
  try {
    w = store->record_sales(parsed);
  } catch (const IoError& e) {
    log().error("sales not recorded: {}", e.what());
    res.set_header("Retry-After", kRetryAfterSeconds);
    return send_error(res, 503, "database_unavailable", "the sales could not be recorded; retry");
  }
  metrics.sales(w.inserted);
  res.status = 201;
  res.set_content(json_text(json{{"inserted", w.inserted}, {"duplicates", w.duplicates}}), "application/json");
}

// GET /v1/recommendations?age=34 or ?band=25-34, optional k: categories to
// suggest, never restricted goods below the policy's challenge age.
void Server::Impl::recommendations(const httplib::Request& req, httplib::Response& res) {
  if (!authorise(req, res)) return;
  if (!recommender) {
    return send_error(res, 503, "no_recommendations",
                      "this service has no recommendations; start it with --recommendations FILE (from agegate insights)");
  }
  Recommender::Query q;
  for (const auto& [name, value] : req.params) {
    if (name != "age" && name != "band" && name != "k") {
      return send_error(res, 400, "bad_query", "unknown parameter '" + name + "' (age, band, k)");
    }
  }
  if (req.has_param("age")) {
    const auto age = parse_number(req.get_param_value("age"));
    if (!age) return send_error(res, 400, "bad_query", "age must be a number");
    q.age = *age;
  }
  q.band = req.get_param_value("band");
  if (req.has_param("k")) {
    const auto k = parse_integer(req.get_param_value("k"));
    if (!k || *k < 1 || *k > 50) return send_error(res, 400, "bad_query", "k must be a whole number from 1 to 50");
    q.k = static_cast<int>(*k);
  }
  json body;
  try {
    body = recommender->recommend(q, current()->pipeline->policy().challenge_age);
  } catch (const InvalidInput& e) {
    return send_error(res, 400, "bad_query", e.what());
  }
  res.set_content(json_text(body), "application/json");
}

void Server::Impl::prune_loop() {
  constexpr auto kPruneEvery = std::chrono::hours(1);
  std::unique_lock<std::mutex> lock(maintenance_mu);
  while (!maintenance_stop) {
    lock.unlock();
    try {
      const PruneResult p = store->prune(now_ms() - int64_t(opt.retention_days) * kMsPerDay);
      if (p.events + p.sales > 0) {
        log().info("retention {} days: pruned {} events and {} sales", opt.retention_days, p.events, p.sales);
      }
    } catch (const std::exception& e) {
      log().error("pruning failed: {}", e.what());
    }
    lock.lock();
    maintenance_cv.wait_for(lock, kPruneEvery, [this] { return maintenance_stop; });
  }
}

void Server::Impl::health_routes(httplib::Server& server) {
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  server.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const auto m = current();
    const bool ready = m && !admission->stopping() && !interrupted();
    res.status = ready ? 200 : 503;
    res.set_header("X-Agegate-Model", m->sha256);
    res.set_content(json_text(json{{"ready", ready}, {"model", m->model_json}}), "application/json");
  });
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.exposition(admission->in_flight()) + connection_exposition(connections),
                    "text/plain; version=0.0.4");
  });
}

void Server::Impl::routes() {
  httplib::Server& http = *this->http;
  // httplib refuses bodies above this with 413 before reading them.
  http.set_payload_max_length(static_cast<size_t>(opt.max_body_bytes));
  // Answers about shoppers must not be kept by a proxy or a browser cache.
  http.set_default_headers({{"Cache-Control", "no-store"}, {"X-Content-Type-Options", "nosniff"}});
  if (admin) {
    admin->set_default_headers({{"Cache-Control", "no-store"}});
    health_routes(*admin);
    admin->Post("/admin/reload", [this](const httplib::Request& req, httplib::Response& res) { admin_reload(req, res); });
  } else {
    health_routes(http);
  }
  http.Post("/v1/estimate", [this](const httplib::Request& req, httplib::Response& res) { estimate(req, res); });
  http.Post("/v1/sales", [this](const httplib::Request& req, httplib::Response& res) { sales(req, res); });
  http.Get("/v1/recommendations",
           [this](const httplib::Request& req, httplib::Response& res) { recommendations(req, res); });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      std::string code;
      const int status = http_status_for(e, &code);
      if (status >= 500) {
        log().error("request failed: {}", e.what());
        send_error(res, status, code, "internal error");
      } else {
        send_error(res, status, code, e.what());
      }
    } catch (...) {
      log().error("request failed: unknown exception");
      send_error(res, 500, "internal", "internal error");
    }
  });
  // Errors httplib raises itself (404, 413 on a huge body, 400 on a bad
  // request line) get the same JSON shape.
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    const int s = res.status;
    const std::string code = s == 404 ? "not_found" : s == 413 ? "body_too_large" : s == 405 ? "method_not_allowed"
                                                                                             : "bad_request";
    send_error(res, s, code, "HTTP " + std::to_string(s));
  });
  const auto count = [this](const httplib::Request& req, const httplib::Response& res) {
    metrics.record(known_route(req.path) ? req.path : "other", res.status);
  };
  http.set_logger([this, count](const httplib::Request& req, const httplib::Response& res) {
    count(req, res);
    if (res.status >= 400) {
      // The terminal's certificate names who asked (never a token: those stay out of every log).
      const std::string terminal = peer_subject(req.ssl);
      // Only our own route names reach the log: a path is client text.
      const std::string path = known_route(req.path) ? req.path : "-";
      json fields{{"method", req.method}, {"path", path}, {"status", res.status},
                  {"bytes", req.body.size()}, {"from", req.remote_addr}};
      if (!terminal.empty()) fields["terminal"] = terminal;
      log_event(spdlog::level::info, "request_refused", fields,
                fmt::format("{} {} -> {} ({} bytes in) from {}{}", req.method, path, res.status, req.body.size(),
                            req.remote_addr, terminal.empty() ? "" : " (" + terminal + ")"));
    }
  });
  if (admin) admin->set_logger(count);
}

// Loads opt.pipeline.model with its own policy; throws ModelError for a
// broken or foreign file, InvalidInput for a policy that does not validate.
std::shared_ptr<const ServedModel> Server::Impl::load_model() const {
  PipelineOptions po = opt.pipeline;
  po.policy = opt.policy.resolve(po.model, po.flip_average);
  auto m = std::make_shared<ServedModel>();
  // Hashed before and after loading: a file replaced meanwhile (a copy
  // instead of a rename) is refused rather than served under another's name.
  const std::string before = sha256_file(po.model);
  m->pipeline = std::make_unique<FacePipeline>(po);
  const ModelInfo& info = m->pipeline->model_info();  // the loader refused a broken calibration already
  m->sha256 = sha256_file(po.model);
  if (m->sha256 != before) {
    throw ModelError(po.model.string() + ": the file changed while it was loaded; put a new model in place with a "
                     "rename (scripts/install-service.sh --model does) and reload again");
  }
  m->model_json = {{"file", po.model.filename().string()},
                   {"sha256", m->sha256},
                   {"backbone", to_string(info.config.backbone)},
                   {"version", info.record.version.empty() ? agegate_version() : info.record.version},
                   {"created", info.record.created},
                   {"temperature", m->pipeline->temperature()}};
  m->model_id = po.model.filename().string() + "@" + (info.record.created.empty() ? std::string("unknown") : info.record.created);
  m->policy_text = m->pipeline->policy().to_json().dump();
  return m;
}

std::exception_ptr Server::Impl::reload_all(json* report) {
  std::lock_guard<std::mutex> one_at_a_time(reload_mu);
  std::exception_ptr first;
  auto failed = [&](const char* part, const std::string& what) {
    (*report)[part] = {{"reloaded", false}, {"error", what}};
    if (!first) first = std::current_exception();
  };
  try {
    std::shared_ptr<const ServedModel> fresh = load_model();
    const auto old = current();
    {
      std::lock_guard<std::mutex> lock(model_mu);
      model = fresh;
    }
    (*report)["model"] = {{"reloaded", true}, {"changed", old->sha256 != fresh->sha256}};
    log_event(spdlog::level::info, "model_reloaded",
              {{"file", opt.pipeline.model.string()}, {"sha256", fresh->sha256}, {"previous", old->sha256}},
              "model reloaded: " + opt.pipeline.model.string() + " (sha256 " + fresh->sha256.substr(0, 16) +
                  (old->sha256 == fresh->sha256 ? ", unchanged)" : ", was " + old->sha256.substr(0, 16) + ")"));
  } catch (const std::exception& e) {
    log_event(spdlog::level::err, "model_reload_failed", {{"file", opt.pipeline.model.string()}, {"error", e.what()}},
              std::string("model not reloaded, the previous one keeps serving: ") + e.what());
    failed("model", e.what());
  }
  if (tls) {
    try {
      const auto id = tls->reload();
      (*report)["tls"] = {{"reloaded", true}};
      log().info("TLS certificate reloaded: {} (serial {})", id->subject(), id->serial_hex());
    } catch (const std::exception& e) {
      log().error("TLS certificate not reloaded, the previous one stays in use: {}", e.what());
      failed("tls", e.what());
    }
  }
  if (!opt.token_file.empty()) {
    try {
      load_tokens();
      (*report)["tokens"] = {{"reloaded", true}};
      log().info("tokens reloaded from {} ({} in use)", opt.token_file.string(), auth->tokens()->size());
    } catch (const std::exception& e) {
      log().error("tokens not reloaded, the previous ones stay in use: {}", e.what());
      failed("tokens", e.what());
    }
  }
  return first;
}

// POST /admin/reload (admin port only): what SIGHUP does, answered with what
// was reloaded and the model in force; 422 when something was refused.
void Server::Impl::admin_reload(const httplib::Request& req, httplib::Response& res) {
  if (!authorise(req, res)) return;
  json report = json::object();
  const std::exception_ptr failed = reload_all(&report);
  report["model_in_force"] = current()->model_json;
  res.status = failed ? 422 : 200;
  if (failed) report["error"] = {{"code", "reload_failed"}, {"message", "not everything was reloaded; see the parts"}};
  res.set_content(json_text(report), "application/json");
}

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>()) {
  options.validate();
  impl_->opt = std::move(options);
  // Thread budget: `threads` estimations run at once, each on its own
  // thread; their tensor and OpenCV work gets the cores divided among them,
  // so the defaults never run more compute threads than cores. One YuNet
  // network per slot, so detections do not wait for each other.
  PipelineOptions& po = impl_->opt.pipeline;
  if (po.threads == 0) po.threads = std::max(1, default_thread_count() / impl_->opt.threads);
  po.detectors = impl_->opt.threads;
  if (impl_->opt.reference_path) po.use_reference_path();
  if (po.model.empty()) po.model = default_model_path();
  impl_->model = impl_->load_model();
  impl_->admission = std::make_unique<Admission>(impl_->opt.threads, impl_->opt.max_queue);
  if (!impl_->opt.db.empty()) {
    StoreOptions so;
    so.connections = impl_->opt.threads + 2;
    impl_->store = Store::open(impl_->opt.db, so);
    log().info("recording checkout events in {} (schema {}, retention {} days)", impl_->store->url(),
               impl_->store->schema_version(), impl_->opt.retention_days);
  }
  impl_->auth = std::make_unique<BearerAuth>(impl_->opt.auth);
  impl_->load_tokens();
  ConnectionLimits limits;
  limits.max_connections = impl_->opt.max_connections;
  limits.read_deadline_ms = impl_->opt.read_deadline_ms;
  limits.idle_ms = impl_->opt.keep_alive_ms;
  limits.max_requests = impl_->opt.keep_alive_requests;
  limits.write_timeout_ms = impl_->opt.request_timeout_ms;
  limits.tcp_nodelay = !impl_->opt.reference_path;
  if (!impl_->opt.tls_cert.empty()) {
    impl_->tls = std::make_unique<TlsContext>(impl_->opt.tls_cert, impl_->opt.tls_key, impl_->opt.tls_client_ca);
    log().info("TLS {}", impl_->tls->describe());
  }
  impl_->http = std::make_unique<BoundedServer>(limits, &impl_->connections, impl_->tls ? impl_->tls->ctx() : nullptr);
  if (impl_->opt.admin_port >= 0) {
    ConnectionLimits admin_limits = limits;
    admin_limits.max_connections = kAdminConnections;
    impl_->admin = std::make_unique<BoundedServer>(admin_limits, &impl_->connections, nullptr);
  }
  if (!impl_->opt.recommendations.empty()) {
    impl_->recommender = Recommender::load(impl_->opt.recommendations);
    log().info("recommendations from {} ({} bands; challenge age {})", impl_->opt.recommendations.string(),
               impl_->recommender->bands().size(), impl_->current()->pipeline->policy().challenge_age);
  }
  impl_->routes();
}

Server::~Server() { stop(); }

namespace {
int bind_server(httplib::Server& server, const std::string& host, int port) {
  if (port == 0) return server.bind_to_any_port(host);
  return server.bind_to_port(host, port) ? port : -1;
}

// httplib's stop() does nothing until listen_after_bind() has begun its loop
// (is_running()): a stop() right after start() would leave the loop running
// and its join waiting for ever. So start() returns once each loop runs (or
// has already ended).
void wait_until_running(const httplib::Server& server, const std::atomic<bool>& returned) {
  while (!server.is_running() && !returned) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}
}  // namespace

void Server::start() {
  auto& s = *impl_;
  if (s.thread.joinable()) return;
  s.bound_port = bind_server(*s.http, s.opt.host, s.opt.port);
  if (s.bound_port <= 0) {
    throw IoError("serve: cannot listen on " + s.opt.host + ":" + std::to_string(s.opt.port));
  }
  s.http->widen_backlog();
  if (s.admin) {
    s.admin_bound = bind_server(*s.admin, s.opt.admin_host, s.opt.admin_port);
    if (s.admin_bound <= 0) {
      s.http->stop();
      throw IoError("serve: cannot listen on " + s.opt.admin_host + ":" + std::to_string(s.opt.admin_port) +
                    " (--admin-port)");
    }
    s.admin->widen_backlog();
    s.admin_thread = std::thread([&s] {
      s.admin->listen_after_bind();
      s.admin_returned = true;
    });
    wait_until_running(*s.admin, s.admin_returned);
  }
  s.thread = std::thread([&s] {
    s.http->listen_after_bind();
    s.http_returned = true;
  });
  wait_until_running(*s.http, s.http_returned);
  if (s.store && s.opt.retention_days > 0) s.maintenance = std::thread([&s] { s.prune_loop(); });
  const auto tokens = s.auth->tokens();
  const auto m = s.current();
  log_event(spdlog::level::info, "serving",
            {{"scheme", s.tls ? "https" : "http"}, {"host", s.opt.host}, {"port", s.bound_port},
             {"threads", s.opt.threads}, {"tensor_threads", s.opt.pipeline.threads}, {"queue", s.opt.max_queue},
             {"detect", to_string(s.opt.pipeline.detect)}, {"tokens", tokens ? tokens->size() : 0},
             {"client_certificates", !s.opt.tls_client_ca.empty()}, {"model", m->model_json}},
            fmt::format("serving on {}://{}:{} (threads {} x {} tensor thread(s), queue {}, detect {}{}, auth {}{}; "
                        "model {} sha256 {})",
                        s.tls ? "https" : "http", s.opt.host, s.bound_port, s.opt.threads, s.opt.pipeline.threads,
                        s.opt.max_queue, to_string(s.opt.pipeline.detect),
                        s.opt.reference_path ? ", reference path" : "",
                        tokens && !tokens->empty() ? std::to_string(tokens->size()) + " token(s)" : "off",
                        s.opt.tls_client_ca.empty() ? "" : ", client certificates",
                        s.opt.pipeline.model.filename().string(), m->sha256.substr(0, 16)));
  if (s.admin) log().info("health, metrics and /admin/reload on http://{}:{}", s.opt.admin_host, s.admin_bound);
  if (!s.opt.token.empty()) {
    log().warn("a token given with --token is visible to other users of this machine (ps); prefer --token-file "
               "or AGEGATE_TOKEN");
  }
}

void Server::reload() {
  json report;
  if (std::exception_ptr first = impl_->reload_all(&report)) std::rethrow_exception(first);
}

json Server::model() const { return impl_->current()->model_json; }

bool Server::healthy() const {
  const auto& s = *impl_;
  return s.current() && s.thread.joinable() && s.http->is_running() && (!s.admin || s.admin->is_running());
}

int Server::admin_port() const { return impl_->admin_bound; }

void Server::stop() {
  auto& s = *impl_;
  if (!s.thread.joinable()) return;
  // Drain: /readyz turns 503 and new estimations are refused while the ones
  // admitted finish (each is bounded by the request time limit).
  s.admission->begin_stop();
  if (int n = s.admission->in_flight(); n > 0) log().info("stopping: draining {} request(s) in flight", n);
  if (int n = s.admission->drain(Clock::now() + std::chrono::milliseconds(s.opt.request_timeout_ms)); n > 0) {
    log().warn("stopping with {} request(s) still running", n);
  }
  s.http->stop();  // closes the listening socket; the pool finishes what it holds
  s.thread.join();
  if (s.admin_thread.joinable()) {
    s.admin->stop();
    s.admin_thread.join();
  }
  if (s.maintenance.joinable()) {
    {
      std::lock_guard<std::mutex> lock(s.maintenance_mu);
      s.maintenance_stop = true;
    }
    s.maintenance_cv.notify_all();
    s.maintenance.join();
  }
  log().info("server stopped");
}

int Server::port() const { return impl_->bound_port; }

std::string Server::handle_bytes(std::string_view request) { return impl_->http->handle_bytes(request); }

void Server::run_until_interrupted(int poll_ms) {
  auto status = [this] {
    return "serving on port " + std::to_string(impl_->bound_port) + ", model " +
           impl_->current()->sha256.substr(0, 16);
  };
  service_manager::ready(status());
  const auto watchdog = service_manager::watchdog_interval();
  auto next_feed = Clock::now();
  while (!interrupted() && impl_->thread.joinable()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(
        watchdog ? std::min<int64_t>(poll_ms, watchdog->count()) : poll_ms));
    // Fed only while healthy: a service that stopped accepting is restarted by systemd.
    if (watchdog && Clock::now() >= next_feed && healthy()) {
      service_manager::watchdog();
      next_feed = Clock::now() + *watchdog;
    }
    if (take_reload_request()) {
      service_manager::reloading("reloading model, certificate and tokens");
      try {
        reload();
      } catch (const std::exception&) {
        // logged by reload(); the service keeps what it had
      }
      service_manager::ready(status());
    }
  }
  service_manager::stopping("draining requests in flight");
  stop();
}

void Server::set_test_hook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(impl_->hook_mu);
  impl_->test_hook = std::move(hook);
}

}  // namespace agegate
