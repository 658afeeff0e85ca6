// The HTTP service: POST /v1/estimate (JPEG/PNG body -> faces, ages,
// intervals, decisions as JSON), GET /healthz, /readyz, /metrics (Prometheus).
//
//   agegate::ServerOptions o;  o.port = 0;           // 0 = any free port
//   agegate::Server server(o);                        // loads model + detector once
//   server.start();                                   // listens on a background thread
//   int port = server.port();
//   server.stop();                                    // graceful: finishes in-flight requests
//
// The model, detector and policy are loaded once and shared read-only; each
// request's state (body, decoded image, crops) lives on its own thread's stack.
// Admission is bounded: at most `threads` estimations run at once and at most
// `max_queue` wait; anything beyond gets 503 + Retry-After at once. No photo or
// crop is ever written to disk or to the logs. Construction throws ModelError /
// InvalidInput; start() throws IoError when it cannot bind.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "agegate/policy/policy.h"
#include "agegate/vision/align.h"

namespace agegate {

struct ServerOptions {
  static constexpr int kDefaultPort = 8080;
  std::string host = "127.0.0.1";
  int port = kDefaultPort;             // 0 = pick a free port (see Server::port())
  int threads = 2;                     // estimations running at once
  int max_queue = 8;                   // estimations waiting; beyond: 503
  int io_threads = 64;                 // connection threads (cheap; they mostly wait)
  int64_t max_body_bytes = int64_t(8) << 20;        // 413 above
  int64_t max_pixels = int64_t(24) * 1000 * 1000;   // 413 above (decompression bombs)
  int request_timeout_ms = 10000;      // queue wait + work; 503 when exceeded in the queue
  int torch_threads = 0;               // intra-op threads per estimation; 0 = default
  std::string token;                   // non-empty: require "Authorization: Bearer <token>" on /v1/*
  std::filesystem::path model;         // empty = default_model_path()
  std::filesystem::path detector_model;  // empty = default YuNet
  DetectMode detect = DetectMode::kAuto;
  Policy policy;

  void validate() const;  // throws InvalidInput naming the field
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  // stops if running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();  // binds and serves on a background thread; throws IoError
  void stop();   // stops accepting, lets in-flight requests finish, joins
  int port() const;
  bool running() const;
  // Blocks until interrupted() (SIGTERM/SIGINT via install_interrupt_handler)
  // or stop(), polling every `poll_ms`; then stops gracefully.
  void run_until_interrupted(int poll_ms = 100);

  // Test hook: every estimation sleeps this long first (simulates slow work).
  void set_test_delay_ms(int ms);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace agegate
