// Idle, trickling and surplus connections on loopback: the service keeps
// answering everyone else (serve/transport.h). Bounded: a few seconds each.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
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

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Everything the server sends until it closes (or `wait` passes).
std::string read_until_closed(int fd, milliseconds wait, bool* closed) {
  std::string got;
  const auto until = Clock::now() + wait;
  *closed = false;
  while (Clock::now() < until) {
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

// Over --max-connections a connection is closed at once with a bare 503;
// once the idle ones reach their deadline the service takes new ones again.
TEST(Connections, OneMoreThanTheCapIsRefusedAtOnce) {
  ServerOptions o = options();
  o.max_connections = 6;
  o.read_deadline_ms = 700;
  Server server(o);
  server.start();
  std::vector<int> held;
  for (int i = 0; i < 6; ++i) held.push_back(connect_to(server.port()));
  std::this_thread::sleep_for(milliseconds(100));  // all six accepted
  const int extra = connect_to(server.port());
  bool closed = false;
  const auto t = Clock::now();
  const std::string answer = read_until_closed(extra, milliseconds(2000), &closed);
  EXPECT_TRUE(closed);
  EXPECT_LT(ms_since(t), 500);
  EXPECT_EQ(answer.rfind("HTTP/1.1 503", 0), 0u) << answer;
  ::close(extra);
  std::this_thread::sleep_for(milliseconds(900));  // the held ones hit their deadline
  httplib::Client c("127.0.0.1", server.port());
  auto h = c.Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_GE(metric(c, "agegate_connections_total{outcome=\"rejected\"}"), 1);
  for (int fd : held) ::close(fd);
  server.stop();
}

// Keep-alive serves several requests on one connection, at most
// --keep-alive-requests, and closes one left idle for --keep-alive-ms.
TEST(Connections, KeepAliveIsBoundedInRequestsAndIdleTime) {
  ServerOptions o = options();
  o.keep_alive_ms = 300;
  o.keep_alive_requests = 2;
  Server server(o);
  server.start();
  const int fd = connect_to(server.port());
  const std::string get = "GET /healthz HTTP/1.1\r\nHost: till\r\n\r\n";
  ASSERT_GT(::send(fd, get.data(), get.size(), MSG_NOSIGNAL), 0);
  bool closed = false;
  std::string first = read_until_closed(fd, milliseconds(150), &closed);
  EXPECT_FALSE(closed);
  EXPECT_EQ(first.rfind("HTTP/1.1 200", 0), 0u) << first;
  ASSERT_GT(::send(fd, get.data(), get.size(), MSG_NOSIGNAL), 0);
  std::string second = read_until_closed(fd, milliseconds(1000), &closed);
  EXPECT_EQ(second.rfind("HTTP/1.1 200", 0), 0u) << second;
  EXPECT_NE(second.find("Connection: close"), std::string::npos) << second;
  EXPECT_TRUE(closed);  // the second and last request of this connection
  ::close(fd);

  const int quiet = connect_to(server.port());
  ASSERT_GT(::send(quiet, get.data(), get.size(), MSG_NOSIGNAL), 0);
  const auto t = Clock::now();
  read_until_closed(quiet, milliseconds(3000), &closed);
  EXPECT_TRUE(closed);
  EXPECT_GT(ms_since(t), 250);
  EXPECT_LT(ms_since(t), 1500);
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
  EXPECT_LT(ms_since(t), 2000);
  for (int fd : fds) ::close(fd);
}

// httplib writes an answer's headers and body with two send() calls. With
// Nagle's algorithm on (the reference path) the body waits for the client's
// delayed ACK, about 40 ms on Linux, on every request after the first on a
// keep-alive connection; the service sets TCP_NODELAY, so a small answer
// comes back in a few ms. Medians of 9 requests; the 40 ms floor of the
// reference does not depend on the machine's load, the bound on ours is
// loose enough for a sanitizer build.
TEST(Connections, KeepAliveAnswersDoNotWaitForDelayedAcks) {
  constexpr int kRequests = 9;
  constexpr double kNagleFloorMs = 30;
  const auto median_ms = [](bool reference) {
    ServerOptions o = options();
    o.reference_path = reference;
    Server server(o);
    server.start();
    httplib::Client c("127.0.0.1", server.port());
    c.set_keep_alive(true);
    std::vector<double> t;
    EXPECT_TRUE(c.Get("/healthz"));  // opens the connection
    for (int i = 0; i < kRequests; ++i) {
      const auto start = Clock::now();
      auto r = c.Get("/healthz");
      EXPECT_TRUE(r && r->status == 200);
      t.push_back(ms_since(start));
    }
    server.stop();
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  const double ours = median_ms(false), reference = median_ms(true);
  EXPECT_GE(reference, kNagleFloorMs) << "the reference path should show the delayed-ACK wait";
  EXPECT_LT(ours, kNagleFloorMs / 2) << "reference " << reference << " ms";
}

}  // namespace
}  // namespace agegate
