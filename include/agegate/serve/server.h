// The HTTP service: POST /v1/estimate (JPEG/PNG body -> faces, ages,
// intervals, decisions as JSON), POST /v1/sales (the till's sales, JSON),
// GET /v1/recommendations?age=34 | ?band=25-34 [&k=5] (what to suggest on
// the checkout screen, from a recommendations.json written by `agegate
// insights`; restricted goods never below the policy's challenge age),
// GET /healthz, /readyz, /metrics (Prometheus).
//
// Security (serve/security.h; the threat model is in docs/service.md):
//  - TLS: with tls_cert and tls_key the port speaks HTTPS only (TLS 1.2+,
//    forward-secret AEAD ciphers); reload() (SIGHUP in `agegate serve`)
//    takes a renewed certificate without dropping the service.
//  - Mutual TLS: with tls_client_ca only terminals whose certificate that
//    CA signed get through the handshake; the certificate's subject is the
//    request's identity in the log and in the recorded event ("terminal").
//  - Tokens: `token` and/or `token_file` (several, one per line, re-read by
//    reload()), compared in constant time; after auth.max_failures failures
//    within a minute an address gets 429 + Retry-After. No token is ever
//    logged, echoed or counted.
//  - Every JSON answer carries Cache-Control: no-store. With admin_port set,
//    /healthz, /readyz and /metrics move to that (plain HTTP, by default
//    local) port and the main port answers them 404.
//
// Checkout records (options.db set): an estimate that carries a checkout
// context (store, lane and optionally transaction, cashier and the till's
// time, as X-Agegate-Store / -Lane / -Transaction / -Cashier / -Time headers
// or the query parameters store, lane, transaction, cashier, time) is
// recorded as a CheckoutEvent (store/records.h): context, model, policy,
// estimate, interval, decision, face count, timings; never the photo.
// A database failure is logged and counted, and the answer still carries the
// decision ("recorded": false), because the till needs it either way. The
// event is written after the request gives back its estimation slot, so a
// slow database never holds up the next estimation (stop() still waits).
//
//   agegate::ServerOptions o;  o.port = 0;           // 0 = any free port
//   agegate::Server server(o);                        // loads model + detector once
//   server.start();                                   // listens on a background thread
//   int port = server.port();
//   server.stop();                                    // graceful: drains in-flight requests
//
// The model, detector and policy (one FacePipeline, pipeline/face_pipeline.h)
// are loaded once and shared read-only; each request's state (body, decoded
// image, crops) lives on its own thread's stack. Errors map to one status each:
// InvalidInput 400, anything else 500 (see http_status_for()).
// Admission is bounded: at most `threads` estimations run at once and at most
// `max_queue` wait; anything beyond gets 503 + Retry-After at once. No photo or
// crop is ever written to disk or to the logs. Construction throws ModelError /
// InvalidInput; start() throws IoError when it cannot bind.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "agegate/model/policy_source.h"
#include "agegate/pipeline/face_pipeline.h"
#include "agegate/serve/security.h"
#include "agegate/store/records.h"

namespace agegate {

struct ServerOptions {
  static constexpr int kDefaultPort = 8080;
  std::string host = "127.0.0.1";
  int port = kDefaultPort;             // 0 = pick a free port (see Server::port())
  int threads = 2;                     // estimations running at once
  int max_queue = 8;                   // estimations waiting; beyond: 503
  // Connections (serve/transport.h): one thread each, at most max_connections
  // open (beyond: closed at once); a request must arrive whole within
  // read_deadline_ms however slowly it trickles; keep-alive is bounded.
  int max_connections = 256;
  int read_deadline_ms = 5000;
  int keep_alive_ms = 5000;            // idle time allowed between requests
  int keep_alive_requests = 100;       // requests per connection
  int64_t max_body_bytes = int64_t(8) << 20;        // 413 above
  int64_t max_pixels = int64_t(24) * 1000 * 1000;   // 413 above (decompression bombs)
  int request_timeout_ms = 10000;      // queue wait + work (503 when exceeded in the queue); writing the answer
  std::string token;                   // non-empty: require "Authorization: Bearer <token>" on /v1/*
  std::filesystem::path token_file;    // more tokens, one per line (rotation); re-read by reload()
  ThrottleOptions auth;                // repeated failures from one address -> 429
  std::filesystem::path tls_cert;      // PEM chain; with tls_key: HTTPS only
  std::filesystem::path tls_key;
  std::filesystem::path tls_client_ca; // PEM CA: require terminals' client certificates (mutual TLS)
  std::string admin_host = "127.0.0.1";
  int admin_port = -1;                 // >= 0: /healthz, /readyz, /metrics here instead (0 = any free port)
  PipelineOptions pipeline;            // model, detector, --detect, tensor threads (0: cores / threads)
  // The policy: resolved for every model loaded (a new model brings its own
  // retuned policy; these settings stay on top). pipeline.policy is ignored.
  PolicyOverrides policy;
  // The service before the speed work (bench/speed.sh's reference): Nagle's
  // algorithm on, one shared detector, PipelineOptions::use_reference_path().
  bool reference_path = false;
  std::string db;                      // "" = record nothing; sqlite:PATH or postgresql://...
  int retention_days = 90;             // records older than this are pruned hourly; 0 = keep
  std::filesystem::path recommendations;  // "" = /v1/recommendations answers 503

  void validate() const;  // throws InvalidInput naming the field
};

// The HTTP status every error type maps to: InvalidInput (the request's
// content is unusable) 400; IoError, ModelError, InternalError and anything
// else 500. `code` receives the JSON error code ("bad_request", "internal").
int http_status_for(const std::exception& e, std::string* code);

// The checkout context of a request, from the query parameters or, when a
// parameter is absent, the X-Agegate-* header of the same name. An empty
// context means none was sent. `get` returns "" for an absent name.
// InvalidInput for a malformed time.
CheckoutContext checkout_context(const std::function<std::string(const std::string& param)>& query,
                                 const std::function<std::string(const std::string& header)>& header);

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  // stops if running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();  // binds and serves on a background thread; throws IoError
  // Re-reads the model file, the TLS certificate and key and the token file
  // (each that is configured). What fails to load (a broken or foreign model
  // file, a bad certificate) is logged and the one in use keeps serving;
  // then the first failure is rethrown (ModelError / IoError / InvalidInput
  // naming the file). A new model is swapped in whole: estimations in flight
  // finish on the model they started with, new ones get the new model, and
  // none is refused meanwhile. SIGHUP and POST /admin/reload call this.
  void reload();
  // The model in force: {"file","sha256","backbone","version","created","temperature"};
  // every estimate and /readyz carry it (and the X-Agegate-Model header its sha256).
  nlohmann::json model() const;
  // Listening, accepting and a model loaded: what the systemd watchdog is fed on.
  bool healthy() const;
  int admin_port() const;  // -1 without an admin port
  // Graceful stop: /readyz answers 503 and new estimations get 503
  // "shutting_down" while the admitted ones finish (at most
  // request_timeout_ms), then the socket closes and the thread joins.
  void stop();
  int port() const;
  // Blocks until interrupted() (SIGTERM/SIGINT via install_interrupt_handler)
  // or stop(), polling every `poll_ms`; then stops gracefully. A SIGHUP
  // (install_reload_handler) in between calls reload(). Under systemd
  // (serve/notify.h) it sends READY=1 on entry, RELOADING=1 / READY=1 around
  // each reload, STOPPING=1 before the drain, and feeds the watchdog while
  // healthy().
  void run_until_interrupted(int poll_ms = 100);

  // One raw HTTP request through the main port's parser and routes, without
  // a socket or start(); returns the raw answer (status line, headers, body).
  // The request handler's fuzz target (fuzz/) drives the service this way.
  std::string handle_bytes(std::string_view request);

  // Test hook: every admitted estimation calls it first, holding its slot
  // (tests block it on a latch to make a queue fill deterministically).
  void set_test_hook(std::function<void()> hook);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace agegate
