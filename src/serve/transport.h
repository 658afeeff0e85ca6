// The service's connections: httplib parses HTTP, this file owns the sockets
// (private to serve/). httplib 0.11's own loop gives every connection one of
// a fixed pool of threads and bounds each read, not the request, so a
// hundred clients that send half a request each stalled /healthz for 14 s.
// Here:
//  - each connection gets its own thread, up to max_connections open at
//    once; one more is closed at once (plain HTTP: after a bare 503), counted;
//  - a request must arrive whole (request line, headers and body; for the
//    first one on a TLS connection the handshake too) within read_deadline_ms
//    of its start, however slowly it trickles; then the connection is cut;
//  - keep-alive is bounded: idle_ms between requests, max_requests per
//    connection; stop() ends idle connections within 100 ms.
//
//   BoundedServer http(limits, &stats, ssl_ctx);   // ssl_ctx null: plain HTTP
//   http.Get("/healthz", ...);                      // the httplib::Server API
#pragma once
#include <httplib.h>
#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace agegate {

struct ConnectionLimits {
  int max_connections = 256;
  int read_deadline_ms = 5000;
  int idle_ms = 5000;
  int max_requests = 100;
  int write_timeout_ms = 10000;
  // TCP_NODELAY on every connection: httplib sends an answer's headers and
  // body with two writes, and with Nagle's algorithm the body waits for the
  // client's delayed ACK (about 40 ms on Linux) on keep-alive connections.
  bool tcp_nodelay = true;
};

// Counters for /metrics; shared by the main and the admin port.
struct ConnectionStats {
  std::atomic<int64_t> open{0};
  std::atomic<int64_t> accepted{0};
  std::atomic<int64_t> rejected{0};       // over max_connections
  std::atomic<int64_t> deadline_cut{0};   // a request not whole within read_deadline_ms
  std::atomic<int64_t> tls_failed{0};     // handshakes that failed or timed out
};

class BoundedServer : public httplib::Server {
 public:
  // `ssl_ctx` (may be null) stays owned by the caller and must outlive this.
  BoundedServer(ConnectionLimits limits, ConnectionStats* stats, SSL_CTX* ssl_ctx);

  // After bind_to_port: httplib 0.11 listens with a backlog of 5, so a burst
  // of connections (tills reconnecting after a network blip) waits out SYN
  // retries of 1 s and more; Linux lets listen() be called again to widen it.
  void widen_backlog();

  // One raw HTTP request (bytes as they would arrive) through the same
  // parser and routes, without a socket; returns the raw answer. For the
  // request handler's fuzz target and tests.
  std::string handle_bytes(std::string_view request);

 private:
  bool process_and_close_socket(socket_t sock) override;
  ConnectionLimits limits_;
  ConnectionStats* stats_;
  SSL_CTX* ssl_ctx_;
};

}  // namespace agegate
