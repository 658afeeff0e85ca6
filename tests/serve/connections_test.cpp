// Idle, trickling and surplus connections on loopback: the service keeps
// answering everyone else (serve/transport.h). Bounded: a few seconds each.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "agegate/core/fs.h"
#include "agegate/serve/server.h"
#include "serve_fixture.h"
#include "test_support.h"

namespace agegate {
namespace {
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

ServerOptions options() { return testing::tiny_server_options(); }

int connect_to(int port) { return testing::connect_loopback(port); }

// What the server sends until it closes, `wait` passes or `done(got)` holds.
// `closed`: the server closed the connection.
template <typename Done>
std::string read_from(int fd, milliseconds wait, bool* closed, Done done) {
  std::string got;
  const auto until = Clock::now() + wait;
  *closed = false;
  while (Clock::now() < until && !done(got)) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      *closed = true;
      break;
    }
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// One whole answer (headers and Content-Length body), or what came first.
std::string read_answer(int fd, milliseconds wait, bool* closed) {
  return read_from(fd, wait, closed, [](const std::string& got) {
    const size_t head = got.find("\r\n\r\n");
    if (head == std::string::npos) return false;
    const size_t cl = got.find("Content-Length: ");
    const size_t body = cl == std::string::npos || cl > head ? 0 : std::stoul(got.substr(cl + 16));
    return got.size() >= head + 4 + body;
  });
}

// Everything the server sends until it closes (or `wait` passes).
std::string read_until_closed(int fd, milliseconds wait, bool* closed) {
  return read_from(fd, wait, closed, [](const std::string&) { return false; });
}

// The service's end of the client's connection `client_fd`: the service runs
// in this process, so its accepted socket is one of our descriptors.
int server_end_of(int client_fd) {
  sockaddr_in mine{}, peer{};
  socklen_t len = sizeof mine;
  if (::getsockname(client_fd, reinterpret_cast<sockaddr*>(&mine), &len) != 0) return -1;
  len = sizeof peer;
  if (::getpeername(client_fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return -1;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(e.path().filename().string());
    sockaddr_in local{}, remote{};
    socklen_t l1 = sizeof local, l2 = sizeof remote;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &l1) != 0 || local.sin_family != AF_INET) continue;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &l2) != 0) continue;
    if (local.sin_port == peer.sin_port && remote.sin_port == mine.sin_port) return fd;
  }
  return -1;
}

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

int64_t metric(httplib::Client& c, const std::string& name) {
  auto m = c.Get("/metrics");
  if (!m) return -1;
  const size_t at = m->body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(m->body.substr(at + name.size() + 2));
}

// 100 clients that connect and say nothing, 100 that send half a request a
// byte every 100 ms: /healthz and an estimate with a photo still answer
// within a second, and the tricklers are cut at the request deadline.
TEST(Connections, IdleAndTricklingClientsDoNotHoldUpTheService) {
  ServerOptions o = options();
  o.read_deadline_ms = 2000;
  Server server(o);
  server.start();
  const int port = server.port();
  constexpr int kIdle = 100, kTrickling = 100;
  std::vector<int> idle, trickling;
  const auto t_connect = Clock::now();
  for (int i = 0; i < kIdle; ++i) idle.push_back(connect_to(port));
  for (int i = 0; i < kTrickling; ++i) {
    trickling.push_back(connect_to(port));
    const std::string start = "POST /v1/estimate HTTP/1.1\r\nHost: till\r\nX-Slow: ";
    ASSERT_GT(::send(trickling.back(), start.data(), start.size(), MSG_NOSIGNAL), 0);
  }
  ASSERT_EQ(std::count(idle.begin(), idle.end(), -1) + std::count(trickling.begin(), trickling.end(), -1), 0);
  std::printf("connected %d clients in %.0f ms\n", kIdle + kTrickling, ms_since(t_connect));
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    while (!done) {
      for (int fd : trickling) (void)::send(fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(milliseconds(100));
    }
  });
  const std::string photo = read_file(testing::real_photo(1).first);
  double worst_health = 0, worst_estimate = 0;
  int answered = 0;
  const auto t0 = Clock::now();
  while (ms_since(t0) < 3000) {  // past the 2 s deadline, so both phases are measured
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(5, 0);
    auto t = Clock::now();
    auto h = c.Get("/healthz");
    worst_health = std::max(worst_health, ms_since(t));
    t = Clock::now();
    auto e = c.Post("/v1/estimate", photo, "image/jpeg");
    worst_estimate = std::max(worst_estimate, ms_since(t));
    ASSERT_TRUE(h && e);
    EXPECT_EQ(h->status, 200);
    EXPECT_EQ(e->status, 200) << e->body;
    ++answered;
    std::this_thread::sleep_for(milliseconds(200));
  }
  done = true;
  trickle.join();
  std::printf("held %d idle + %d trickling connections: %d health checks and estimates, worst %.1f ms and %.1f ms\n",
              kIdle, kTrickling, answered, worst_health, worst_estimate);
  EXPECT_LT(worst_health, 1000);
  EXPECT_LT(worst_estimate, 1000);
  EXPECT_GE(answered, 5);
  // Every trickler was cut (after the deadline, so it has been closed by now).
  int closed_count = 0;
  for (int fd : trickling) {
    bool closed = false;
    read_until_closed(fd, milliseconds(200), &closed);
    closed_count += closed;
  }
  EXPECT_EQ(closed_count, kTrickling);
  httplib::Client c("127.0.0.1", port);
  EXPECT_GE(metric(c, "agegate_connections_total{outcome=\"deadline\"}"), kIdle + kTrickling);
  for (int fd : idle) ::close(fd);
  for (int fd : trickling) ::close(fd);
  server.stop();
}

// Over --max-connections a connection is closed at once with a bare 503,
// long before any held one reaches its deadline; once the held ones reach it
// the service takes new ones again.
TEST(Connections, OneMoreThanTheCapIsRefusedAtOnce) {
  ServerOptions o = options();
  o.max_connections = 6;
  o.read_deadline_ms = 4000;
  Server server(o);
  server.start();
  std::vector<int> held;
  for (int i = 0; i < 6; ++i) held.push_back(connect_to(server.port()));
  const auto opened = Clock::now();
  httplib::Client probe("127.0.0.1", server.port());
  // All six accepted: the seventh is refused (the cap, not a timing guess).
  int extra = -1;
  std::string answer;
  bool closed = false;
  for (int attempt = 0; attempt < 100 && answer.rfind("HTTP/1.1 503", 0) != 0; ++attempt) {
    if (extra >= 0) ::close(extra);
    extra = connect_to(server.port());
    answer = read_until_closed(extra, milliseconds(200), &closed);
  }
  EXPECT_EQ(answer.rfind("HTTP/1.1 503", 0), 0u) << answer;
  EXPECT_TRUE(closed);
  // Refused while the held ones were still held: the refusal did not wait for a slot.
  EXPECT_LT(ms_since(opened), o.read_deadline_ms);
  ::close(extra);
  // The held ones reach their deadline and are cut; then a new one is served.
  int status = 0;
  for (int i = 0; i < 200 && status != 200; ++i) {
    auto h = probe.Get("/healthz");
    status = h ? h->status : 0;
    if (status != 200) std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(status, 200);
  httplib::Client c("127.0.0.1", server.port());
  EXPECT_GE(metric(c, "agegate_connections_total{outcome=\"rejected\"}"), 1);
  EXPECT_GE(metric(c, "agegate_connections_total{outcome=\"deadline\"}"), 6);
  for (int fd : held) ::close(fd);
  server.stop();
}

// Keep-alive serves several requests on one connection, at most
// --keep-alive-requests, and closes one left idle for --keep-alive-ms (not
// before; "eventually" is bounded loosely, a loaded machine may be slow).
TEST(Connections, KeepAliveIsBoundedInRequestsAndIdleTime) {
  ServerOptions o = options();
  o.keep_alive_ms = 1000;
  o.keep_alive_requests = 2;
  Server server(o);
  server.start();
  const int fd = connect_to(server.port());
  const std::string get = "GET /healthz HTTP/1.1\r\nHost: till\r\n\r\n";
  ASSERT_GT(::send(fd, get.data(), get.size(), MSG_NOSIGNAL), 0);
  bool closed = false;
  std::string first = read_answer(fd, milliseconds(10000), &closed);
  EXPECT_FALSE(closed);
  EXPECT_EQ(first.rfind("HTTP/1.1 200", 0), 0u) << first;
  EXPECT_EQ(first.find("Connection: close"), std::string::npos) << first;
  ASSERT_GT(::send(fd, get.data(), get.size(), MSG_NOSIGNAL), 0);
  std::string second = read_until_closed(fd, milliseconds(10000), &closed);
  EXPECT_EQ(second.rfind("HTTP/1.1 200", 0), 0u) << second;
  EXPECT_NE(second.find("Connection: close"), std::string::npos) << second;
  EXPECT_TRUE(closed);  // the second and last request of this connection
  ::close(fd);

  const int quiet = connect_to(server.port());
  ASSERT_GT(::send(quiet, get.data(), get.size(), MSG_NOSIGNAL), 0);
  std::string answer = read_answer(quiet, milliseconds(10000), &closed);
  ASSERT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  const auto t = Clock::now();  // idle from here
  read_until_closed(quiet, milliseconds(20000), &closed);
  EXPECT_TRUE(closed);
  EXPECT_GE(ms_since(t), o.keep_alive_ms - 100);  // not cut before its idle time
  ::close(quiet);
  server.stop();
}

// stop() does not wait for idle keep-alive connections.
TEST(Connections, StoppingDoesNotWaitForIdleConnections) {
  ServerOptions o = options();
  o.keep_alive_ms = 60000;
  o.read_deadline_ms = 60000;
  Server server(o);
  server.start();
  std::vector<int> fds;
  const std::string get = "GET /healthz HTTP/1.1\r\nHost: till\r\n\r\n";
  for (int i = 0; i < 20; ++i) {
    fds.push_back(connect_to(server.port()));
    if (i % 2 == 0) (void)::send(fds.back(), get.data(), get.size(), MSG_NOSIGNAL);
  }
  std::this_thread::sleep_for(milliseconds(200));
  const auto t = Clock::now();
  server.stop();
  // Far below the 60 s that waiting for them would take, with room for a loaded machine.
  EXPECT_LT(ms_since(t), 20000);
  for (int fd : fds) ::close(fd);
}

// httplib writes an answer's headers and body with two send() calls; with
// Nagle's algorithm the body waits for the client's delayed ACK on
// keep-alive connections. The service sets TCP_NODELAY on every connection
// (the reference path does not): read off the service's own socket. What
// the delayed ACK costs is a property of the kernel and is measured by
// bench/serve_load.sh, not here.
TEST(Connections, EveryConnectionHasNagleOffAndTheReferencePathHasItOn) {
  for (bool reference : {false, true}) {
    SCOPED_TRACE(reference ? "reference path" : "service");
    ServerOptions o = options();
    o.reference_path = reference;
    Server server(o);
    server.start();
    const int fd = connect_to(server.port());
    const std::string get = "GET /healthz HTTP/1.1\r\nHost: till\r\n\r\n";
    ASSERT_GT(::send(fd, get.data(), get.size(), MSG_NOSIGNAL), 0);
    bool closed = false;
    const std::string answer = read_answer(fd, milliseconds(10000), &closed);
    ASSERT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
    const int theirs = server_end_of(fd);
    ASSERT_GE(theirs, 0) << "the service's socket was not found among this process's descriptors";
    int nodelay = -1;
    socklen_t len = sizeof nodelay;
    ASSERT_EQ(::getsockopt(theirs, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
    EXPECT_EQ(nodelay != 0, !reference);
    ::close(fd);
    server.stop();
  }
}

}  // namespace
}  // namespace agegate
