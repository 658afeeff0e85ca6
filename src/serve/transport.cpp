// Connection threads, request deadlines and TLS over non-blocking sockets
// (see transport.h). httplib still parses every request (process_request).
#include "transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace agegate {
namespace {
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Set by the pool around a connection it cannot take: the connection is
// closed at once on the accepting thread instead of being served.
thread_local bool t_reject = false;

// One thread per open connection, started on demand and kept for the next
// one; never more than `cap` connections served or waiting.
class ConnectionPool final : public httplib::TaskQueue {
 public:
  explicit ConnectionPool(int cap) : cap_(cap) {}
  ~ConnectionPool() override = default;

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (busy_ + static_cast<int>(jobs_.size()) >= cap_) {
      lock.unlock();
      t_reject = true;
      fn();
      t_reject = false;
      return;
    }
    jobs_.push_back(std::move(fn));
    if (static_cast<int>(jobs_.size()) > idle_) {
      threads_.emplace_back([this] { work(); });
    } else {
      cv_.notify_one();
    }
  }

  // Called by httplib on the accepting thread once it stopped accepting.
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) return;
      std::function<void()> fn = std::move(jobs_.front());
      jobs_.pop_front();
      ++busy_;
      lock.unlock();
      fn();
      lock.lock();
      --busy_;
    }
  }

  const int cap_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  int idle_ = 0;
  int busy_ = 0;
  bool stop_ = false;
};

// Waits for `events` on `fd` until `until`: 1 ready, 0 timed out, -1 error.
int wait_fd(int fd, short events, Clock::time_point until) {
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now()).count() + 1;
    if (until <= Clock::now()) return 0;
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, INT_MAX)));
    if (r < 0 && errno == EINTR) continue;
    if (r > 0 && (p.revents & (POLLERR | POLLNVAL)) && !(p.revents & events)) return -1;
    return r > 0 ? 1 : r;
  }
}

void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  const int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                      : ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (rc != 0) return;
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  if (::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host;
    port = std::atoi(serv);
  }
}

// A connection's bytes, plain or TLS, buffered (httplib reads request lines
// a byte at a time). Reads end at the current request's deadline.
class ConnectionStream final : public httplib::Stream {
 public:
  // `running` is false once the server stops: waits end within 100 ms then.
  ConnectionStream(int fd, const ConnectionLimits& limits, std::function<bool()> running)
      : fd_(fd), limits_(limits), running_(std::move(running)) {
    address_of(fd, true, remote_ip_, remote_port_);
    address_of(fd, false, local_ip_, local_port_);
  }

  void set_ssl(SSL* ssl) { ssl_ = ssl; }
  void set_deadline(Clock::time_point t) { deadline_ = t; }
  bool deadline_hit() const { return deadline_hit_; }

  // Keep-alive: true when the next request has begun to arrive within
  // `idle`, checking `go_on` every 100 ms (false when the server stops).
  bool wait_for_request(milliseconds idle) {
    if (buffered() > 0 || (ssl_ && SSL_pending(ssl_) > 0)) return true;
    return wait(POLLIN, Clock::now() + idle) > 0;
  }

  bool is_readable() const override {
    if (buffered() > 0 || (ssl_ && SSL_pending(ssl_) > 0)) return true;
    return wait_fd(fd_, POLLIN, deadline_) > 0;
  }
  bool is_writable() const override {
    return wait_fd(fd_, POLLOUT, Clock::now() + milliseconds(limits_.write_timeout_ms)) > 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (buffered() == 0) {
      const ssize_t n = fill();
      if (n <= 0) return n;
    }
    const size_t n = std::min(size, buffered());
    std::memcpy(ptr, buf_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    size_t done = 0;
    while (done < size) {
      const auto until = Clock::now() + milliseconds(limits_.write_timeout_ms);
      short want = POLLOUT;
      if (ssl_) {
        const int n = SSL_write(ssl_, ptr + done, static_cast<int>(std::min<size_t>(size - done, INT_MAX)));
        if (n > 0) {
          done += static_cast<size_t>(n);
          continue;
        }
        const int e = SSL_get_error(ssl_, n);
        if (e == SSL_ERROR_WANT_READ) {
          want = POLLIN;
        } else if (e != SSL_ERROR_WANT_WRITE) {
          return -1;
        }
      } else {
        const ssize_t n = ::send(fd_, ptr + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          done += static_cast<size_t>(n);
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return -1;
      }
      if (wait_fd(fd_, want, until) <= 0) return -1;
    }
    return static_cast<ssize_t>(done);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = remote_ip_;
    port = remote_port_;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = local_ip_;
    port = local_port_;
  }
  socket_t socket() const override { return fd_; }

 private:
  size_t buffered() const { return len_ - pos_; }

  // wait_fd in slices, giving up (-1) when the server stops.
  int wait(short events, Clock::time_point until) {
    for (;;) {
      if (!running_()) return -1;
      const int r = wait_fd(fd_, events, std::min(until, Clock::now() + kStopCheck));
      if (r != 0 || Clock::now() >= until) return r;
    }
  }

  // Refills the buffer: bytes read, 0 when the peer closed, -1 on an error
  // or when the deadline passed first.
  ssize_t fill() {
    pos_ = len_ = 0;
    for (;;) {
      if (Clock::now() >= deadline_) {
        deadline_hit_ = true;
        return -1;
      }
      short want = POLLIN;
      if (ssl_) {
        const int n = SSL_read(ssl_, buf_.data(), static_cast<int>(buf_.size()));
        if (n > 0) return static_cast<ssize_t>(len_ = static_cast<size_t>(n));
        const int e = SSL_get_error(ssl_, n);
        if (e == SSL_ERROR_ZERO_RETURN) return 0;
        if (e == SSL_ERROR_WANT_WRITE) {
          want = POLLOUT;
        } else if (e != SSL_ERROR_WANT_READ) {
          return -1;
        }
      } else {
        const ssize_t n = ::recv(fd_, buf_.data(), buf_.size(), MSG_DONTWAIT);
        if (n > 0) return static_cast<ssize_t>(len_ = static_cast<size_t>(n));
        if (n == 0) return 0;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      }
      const int r = wait(want, deadline_);
      if (r < 0) return -1;
      if (r == 0) {
        deadline_hit_ = true;
        return -1;
      }
    }
  }

  static constexpr size_t kBufferBytes = 16 * 1024;
  static constexpr milliseconds kStopCheck{100};
  const int fd_;
  const ConnectionLimits& limits_;
  std::function<bool()> running_;
  SSL* ssl_ = nullptr;
  std::array<char, kBufferBytes> buf_{};
  size_t pos_ = 0;
  size_t len_ = 0;
  Clock::time_point deadline_ = Clock::now();
  bool deadline_hit_ = false;
  std::string remote_ip_, local_ip_;
  int remote_port_ = 0, local_port_ = 0;
};

// The TLS handshake within `until`; null when it fails or takes longer.
SSL* tls_accept(SSL_CTX* ctx, int fd, Clock::time_point until) {
  SSL* ssl = SSL_new(ctx);
  if (!ssl) return nullptr;
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    return nullptr;
  }
  for (;;) {
    const int r = SSL_accept(ssl);
    if (r == 1) return ssl;
    const int e = SSL_get_error(ssl, r);
    const short want = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (want == 0 || wait_fd(fd, want, until) <= 0) {
      SSL_free(ssl);
      return nullptr;
    }
  }
}

// A request held in memory: the "connection" of handle_bytes().
class MemoryStream final : public httplib::Stream {
 public:
  explicit MemoryStream(std::string_view in) : in_(in) {}
  bool is_readable() const override { return pos_ < in_.size(); }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, in_.size() - pos_);
    std::memcpy(ptr, in_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    out_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 0;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 0;
  }
  socket_t socket() const override { return INVALID_SOCKET; }
  std::string take() { return std::move(out_); }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  std::string out_;
};

void close_socket(int fd) {
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

struct Counted {
  explicit Counted(std::atomic<int64_t>& n) : n_(n) { ++n_; }
  ~Counted() { --n_; }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  std::atomic<int64_t>& n_;
};

}  // namespace

BoundedServer::BoundedServer(ConnectionLimits limits, ConnectionStats* stats, SSL_CTX* ssl_ctx)
    : limits_(limits), stats_(stats), ssl_ctx_(ssl_ctx) {
  new_task_queue = [cap = limits_.max_connections] { return new ConnectionPool(cap); };
}

std::string BoundedServer::handle_bytes(std::string_view request) {
  MemoryStream strm(request);
  bool closed = false;
  process_request(strm, /*close_connection=*/true, closed, nullptr);
  return strm.take();
}

void BoundedServer::widen_backlog() {
  const socket_t sock = svr_sock_;
  if (sock != INVALID_SOCKET) ::listen(sock, SOMAXCONN);
}

bool BoundedServer::process_and_close_socket(socket_t sock) {
  if (t_reject) {
    ++stats_->rejected;
    if (!ssl_ctx_) {
      static constexpr char kBusy[] =
          "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n";
      (void)::send(sock, kBusy, sizeof kBusy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    close_socket(sock);
    return false;
  }
  ++stats_->accepted;
  Counted open(stats_->open);
  ::fcntl(sock, F_SETFL, ::fcntl(sock, F_GETFL, 0) | O_NONBLOCK);
  if (limits_.tcp_nodelay) {  // see ConnectionLimits
    const int one = 1;
    (void)::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  const milliseconds deadline(limits_.read_deadline_ms);
  const auto running = [this] { return svr_sock_ != INVALID_SOCKET; };  // false once stop() began
  ConnectionStream strm(sock, limits_, running);
  strm.set_deadline(Clock::now() + deadline);  // the handshake and the first request
  SSL* ssl = nullptr;
  if (ssl_ctx_) {
    ssl = tls_accept(ssl_ctx_, sock, Clock::now() + deadline);
    if (!ssl) {
      ++stats_->tls_failed;
      close_socket(sock);
      return false;
    }
    strm.set_ssl(ssl);
  }
  for (int n = 0; n < limits_.max_requests && running(); ++n) {
    if (n > 0) {
      if (!strm.wait_for_request(milliseconds(limits_.idle_ms))) break;
      strm.set_deadline(Clock::now() + deadline);
    }
    bool closed = false;
    const bool last = n + 1 == limits_.max_requests;
    const bool served = process_request(strm, last, closed, [ssl](httplib::Request& req) { req.ssl = ssl; });
    if (strm.deadline_hit()) {
      ++stats_->deadline_cut;
      break;
    }
    if (!served || closed) break;
  }
  if (ssl) {
    SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  close_socket(sock);
  return true;
}

}  // namespace agegate
