// The service in-process on a free port, driven with httplib::Client.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <condition_variable>
#include <csignal>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <zlib.h>

#include "agegate/core/fs.h"
#include "agegate/data/image.h"
#include "agegate/model/model_file.h"
#include "agegate/serve/server.h"
#include "agegate/vision/face_detector.h"
#include "agegate/core/error.h"
#include "camera_images.h"
#include "serve_fixture.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

using testing::tiny_model;

std::string photo_bytes(int i = 0) {
  return read_file(testing::real_photo(i).first);
}

struct Running {
  explicit Running(ServerOptions o) : server(o) { server.start(); }
  httplib::Client client() { return httplib::Client("127.0.0.1", server.port()); }
  Server server;
};

ServerOptions options() { return testing::tiny_server_options(); }

// Request counters are recorded by httplib's logger right after the response
// is written, so a client may see its answer a moment before the count.
std::string metrics_when(httplib::Client& c, std::initializer_list<std::string> needles) {
  std::string body;
  for (int i = 0; i < 50; ++i) {
    auto m = c.Get("/metrics");
    body = m ? m->body : "";
    if (std::all_of(needles.begin(), needles.end(),
                    [&](const std::string& n) { return body.find(n) != std::string::npos; }))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return body;
}

TEST(Server, AnswersEveryRoute) {
  Running s(options());
  auto c = s.client();
  auto h = c.Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto r = c.Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto e = c.Post("/v1/estimate", photo_bytes(), "image/jpeg");
  ASSERT_TRUE(e);
  ASSERT_EQ(e->status, 200) << e->body;
  auto j = json::parse(e->body);
  ASSERT_EQ(j["faces"].size(), 1u);
  EXPECT_TRUE(j["faces"][0].contains("decision"));
  EXPECT_EQ(j["main_face"], 0);
  EXPECT_EQ(j["policy"]["legal_age"], 18);
  EXPECT_GT(j["timing_ms"]["total"].get<double>(), 0);
  const std::string ok = "agegate_requests_total{route=\"/v1/estimate\",status=\"200\"} 1";
  std::string m = metrics_when(c, {ok});
  EXPECT_NE(m.find(ok), std::string::npos) << m;
  EXPECT_NE(m.find("agegate_request_duration_seconds_count 1"), std::string::npos);
}

// start() returns with both listen loops running, so a stop() at once ends
// them: httplib ignores a stop() that comes before its loop began, and that
// loop then ran for ever (a full suite on a busy machine hung here once).
TEST(Server, AStopRightAfterStartEndsTheListenLoops) {
  ServerOptions o = options();
  o.admin_port = 0;
  for (int i = 0; i < 10; ++i) {
    Server server(o);
    server.start();
    EXPECT_TRUE(server.healthy()) << "round " << i;
    const auto t0 = std::chrono::steady_clock::now();
    server.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5)) << "round " << i;
  }
}

TEST(Server, BadRequestsGetJson4xxAndTheServerKeepsServing) {
  ServerOptions o = options();
  o.max_body_bytes = 1 << 20;
  Running s(o);
  auto c = s.client();
  std::string jpeg = photo_bytes();
  // A valid PNG header (IHDR with its CRC) claiming 30000x30000, no pixels.
  std::string ihdr("IHDR\0\0\x75\x30\0\0\x75\x30\x08\x02\0\0\0", 17);
  uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(ihdr.data()), ihdr.size()));
  std::string png = std::string("\x89PNG\r\n\x1a\n\0\0\0\x0d", 12) + ihdr;
  for (int shift = 24; shift >= 0; shift -= 8) png += static_cast<char>((crc >> shift) & 0xff);
  // An empty IDAT, so header readers reach the end of the header chunks.
  uint32_t idat_crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>("IDAT"), 4));
  png += std::string("\0\0\0\0IDAT", 8);
  for (int shift = 24; shift >= 0; shift -= 8) png += static_cast<char>((idat_crc >> shift) & 0xff);
  struct Case { std::string body, type; int status; };
  std::vector<Case> cases{{"", "image/jpeg", 400},
                          {jpeg.substr(0, jpeg.size() / 2), "image/jpeg", 400},
                          {jpeg, "text/plain", 415},
                          {png, "image/png", 413},
                          {"garbage bytes, not an image", "image/jpeg", 400},
                          {std::string(2 << 20, 'x'), "image/jpeg", 413}};
  for (const auto& k : cases) {
    auto r = c.Post("/v1/estimate", k.body, k.type.c_str());
    ASSERT_TRUE(r) << k.status;
    EXPECT_EQ(r->status, k.status) << r->body;
    auto j = json::parse(r->body);
    EXPECT_TRUE(j["error"].contains("code")) << r->body;
  }
  auto ok = c.Post("/v1/estimate", jpeg, "image/jpeg");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  const std::string ok_line = "agegate_requests_total{route=\"/v1/estimate\",status=\"200\"} 1";
  std::string m = metrics_when(c, {ok_line, "status=\"413\"} 2", "status=\"400\"} 3"});
  EXPECT_NE(m.find(ok_line), std::string::npos) << m;
  EXPECT_NE(m.find("status=\"413\"} 2"), std::string::npos) << m;
  EXPECT_NE(m.find("status=\"400\"} 3"), std::string::npos) << m;
}

TEST(Server, BearerTokenIsRequiredWhenSet) {
  ServerOptions o = options();
  o.token = "s3cret-0123456789";
  Running s(o);
  auto c = s.client();
  auto no = c.Post("/v1/estimate", photo_bytes(), "image/jpeg");
  ASSERT_TRUE(no);
  EXPECT_EQ(no->status, 401);
  httplib::Headers auth{{"Authorization", "Bearer s3cret-0123456789"}};
  auto yes = c.Post("/v1/estimate", auth, photo_bytes(), "image/jpeg");
  ASSERT_TRUE(yes);
  EXPECT_EQ(yes->status, 200);
  // A wrong token, and the right one without the Bearer scheme, are refused too.
  for (const char* value : {"Bearer s3cret-012345678X", "Bearer s3cret-01234567892", "s3cret-0123456789",
                            "Basic s3cret-0123456789"}) {
    auto r = c.Post("/v1/estimate", httplib::Headers{{"Authorization", value}}, photo_bytes(), "image/jpeg");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << value;
    EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer");
  }
  // Health and readiness stay open to the orchestrator.
  EXPECT_EQ(c.Get("/healthz")->status, 200);
  EXPECT_EQ(c.Get("/readyz")->status, 200);
}

// A gate the test holds shut: each estimation entering the server's test
// hook counts itself and waits until the test opens it. With it a queue
// fills exactly, without timing guesses.
class Gate {
 public:
  void enter() {
    std::unique_lock<std::mutex> lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  bool wait_entered(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return entered_ >= n; });
  }
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int entered() {
    std::lock_guard<std::mutex> lock(mu_);
    return entered_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool open_ = false;
};

// Installs a closed gate on the server; opens it when the scope ends (even
// when an assertion fails), before the server is stopped.
struct GateOn {
  explicit GateOn(Server& server) : gate(std::make_shared<Gate>()) {
    server.set_test_hook([g = gate] { g->enter(); });
  }
  ~GateOn() { gate->open(); }
  std::shared_ptr<Gate> gate;
};

std::future<httplib::Result> post_async(int port, const std::string& body) {
  return std::async(std::launch::async, [port, body] {
    httplib::Client c("127.0.0.1", port);
    return c.Post("/v1/estimate", body, "image/jpeg");
  });
}

// Polls /metrics until the gauge of admitted estimations reads `n`.
bool in_flight_reaches(httplib::Client& c, int n) {
  const std::string line = "agegate_in_flight " + std::to_string(n) + "\n";
  return metrics_when(c, {line}).find(line) != std::string::npos;
}

std::string error_code(const httplib::Result& r) { return json::parse(r->body)["error"]["code"]; }

// A running server whose first estimation is held at a closed gate: the
// setup of the queue and drain tests. Members are destroyed gate first, so
// the held request finishes before the server stops, also when an
// assertion fails.
struct HeldRequest {
  explicit HeldRequest(ServerOptions o) : s(std::move(o)), gate_on(s.server), jpeg(photo_bytes()) {
    held = post_async(s.server.port(), jpeg);
  }
  bool entered() { return gate_on.gate->wait_entered(1); }
  int gate_count() { return gate_on.gate->entered(); }
  httplib::Result release() {
    gate_on.gate->open();
    return held.get();
  }
  Running s;
  std::future<httplib::Result> held;
  GateOn gate_on;
  std::string jpeg;
};

// Polls /readyz until it answers 503 (or `tries` run out); returns the last status.
int readyz_until_503(httplib::Client& c, int tries, int pause_ms) {
  int status = 0;
  for (int i = 0; i < tries && status != 503; ++i) {
    auto r = c.Get("/readyz");
    status = r ? r->status : -1;
    if (status != 503) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  }
  return status;
}

// threads 1 + queue 1: one running (held at the gate), one queued, and the
// next four are refused at once with 503 + Retry-After; then both held finish.
TEST(Server, AFullQueueAnswers503WithRetryAfterAndRecovers) {
  ServerOptions o = options();
  o.threads = 1;
  o.max_queue = 1;
  HeldRequest h(o);
  auto c = h.s.client();
  ASSERT_TRUE(h.entered());
  auto queued = post_async(h.s.server.port(), h.jpeg);
  ASSERT_TRUE(in_flight_reaches(c, 2));
  for (int i = 0; i < 4; ++i) {
    auto r = c.Post("/v1/estimate", h.jpeg, "image/jpeg");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->get_header_value("Retry-After"), "1");
    EXPECT_EQ(error_code(r), "overloaded");
  }
  EXPECT_EQ(h.gate_count(), 1);  // the queued one is still waiting for the slot
  auto a = h.release(), b = queued.get();
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(b->status, 200);
  EXPECT_EQ(h.gate_count(), 2);
  // Wait for the estimate route's own counts: "status=200} 2" alone would also
  // match the /metrics route's counter after two scrapes.
  const std::string refused = "agegate_requests_total{route=\"/v1/estimate\",status=\"503\"} 4";
  const std::string served = "agegate_requests_total{route=\"/v1/estimate\",status=\"200\"} 2";
  std::string m = metrics_when(c, {refused, served});
  EXPECT_NE(m.find(refused), std::string::npos) << m;
  EXPECT_NE(m.find(served), std::string::npos) << m;
  auto again = c.Post("/v1/estimate", h.jpeg, "image/jpeg");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

// --timeout-ms: a request that waits in the queue past the limit gets 503
// "timeout" with Retry-After; the one holding the slot is unaffected.
TEST(Server, AQueuedRequestPastTheTimeLimitGets503) {
  ServerOptions o = options();
  o.threads = 1;
  o.max_queue = 1;
  o.request_timeout_ms = 300;
  HeldRequest h(o);
  auto c = h.s.client();
  ASSERT_TRUE(h.entered());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c.Post("/v1/estimate", h.jpeg, "image/jpeg");
  const double waited_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(error_code(r), "timeout");
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_GE(waited_ms, 290);  // it did wait for the slot, up to the limit
  auto a = h.release();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 200);
}

// Graceful stop in-process: while a request is in flight, /readyz says 503
// and new estimations get 503 "shutting_down"; the one in flight finishes.
TEST(Server, StoppingDrainsInFlightWorkAndTurnsNotReady) {
  HeldRequest h(options());
  auto c = h.s.client();
  ASSERT_TRUE(h.entered());
  auto stopped = std::async(std::launch::async, [&] { h.s.server.stop(); });
  EXPECT_EQ(readyz_until_503(c, 250, 20), 503);
  auto refused = c.Post("/v1/estimate", h.jpeg, "image/jpeg");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(error_code(refused), "shutting_down");
  EXPECT_EQ(stopped.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout)
      << "stop() returned with a request still in flight";
  auto done = h.release();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, 200);
  EXPECT_EQ(stopped.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_FALSE(c.Get("/healthz"));  // the socket is closed
}

// The counters and the latency histogram count exactly what was sent.
TEST(Server, MetricsCountWhatWasSent) {
  Running s(options());
  auto c = s.client();
  const std::string jpeg = photo_bytes();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(c.Post("/v1/estimate", jpeg, "image/jpeg")->status, 200);
  ASSERT_EQ(c.Post("/v1/estimate", jpeg, "text/plain")->status, 415);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(c.Get("/healthz")->status, 200);
  ASSERT_EQ(c.Get("/nowhere")->status, 404);
  const std::initializer_list<std::string> lines = {
      "agegate_requests_total{route=\"/v1/estimate\",status=\"200\"} 3\n",
      "agegate_requests_total{route=\"/v1/estimate\",status=\"415\"} 1\n",
      "agegate_requests_total{route=\"/healthz\",status=\"200\"} 2\n",
      "agegate_requests_total{route=\"other\",status=\"404\"} 1\n",
      "agegate_request_duration_seconds_count 4\n",
      "agegate_request_duration_seconds_bucket{le=\"+Inf\"} 4\n",
      "agegate_in_flight 0\n"};
  std::string m = metrics_when(c, lines);
  for (const std::string& line : lines) {
    EXPECT_NE(m.find(line), std::string::npos) << line << " missing in\n" << m;
  }
  // Histogram buckets are cumulative: never decreasing, ending at the count.
  std::istringstream in(m);
  std::string row;
  long last = 0, buckets = 0, decisions = 0;
  while (std::getline(in, row)) {
    if (row.rfind("agegate_request_duration_seconds_bucket", 0) == 0) {
      const long v = std::stol(row.substr(row.rfind(' ') + 1));
      EXPECT_GE(v, last) << row;
      last = v;
      ++buckets;
    }
    if (row.rfind("agegate_decisions_total{", 0) == 0) decisions += std::stol(row.substr(row.rfind(' ') + 1));
  }
  EXPECT_EQ(buckets, 13);
  EXPECT_EQ(last, 4);
  EXPECT_EQ(decisions, 3);  // one face per photo with detection off
}

std::string jpeg_of(const Image& img) {
  auto bytes = encode_jpeg(img, 92);
  return std::string(bytes.begin(), bytes.end());
}

TEST(Server, AFrameWithoutAFaceIsAnAnswerNotAnError) {
  ServerOptions o = options();
  o.pipeline.detect = DetectMode::kOn;
  Running s(o);
  auto c = s.client();
  auto r = c.Post("/v1/estimate", jpeg_of(testing::grey_frame(640, 480)), "image/jpeg");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_TRUE(j["faces"].is_array());
  EXPECT_TRUE(j["faces"].empty());
  EXPECT_TRUE(j["main_face"].is_null());
  EXPECT_EQ(j["message"], "no face found");
  std::string m = metrics_when(c, {"agegate_decisions_total{outcome=\"no_face\"} 1"});
  EXPECT_NE(m.find("agegate_decisions_total{outcome=\"no_face\"} 1"), std::string::npos) << m;
}

// Whatever decodable image a camera sends gets an answer, never a 500: tiny
// and long thin images are "too small" with no faces, and every class of
// JPEG and PNG (progressive, CMYK, EXIF-turned, 16-bit, palette, alpha) is
// estimated like the plain photo.
TEST(Server, EveryImageClassAndSizeIsAnsweredNeverA500) {
  ServerOptions o = options();
  Running s(o);
  auto c = s.client();
  for (auto [w, h] : std::vector<std::pair<int, int>>{{1, 1}, {5, 9}, {16, 16}, {23, 23}, {32, 32}, {1000, 1}, {1, 1000}}) {
    SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h));
    const auto png = encode_png(testing::test_pattern(w, h));
    for (const std::string& body : {jpeg_of(testing::test_pattern(w, h)), std::string(png.begin(), png.end())}) {
      auto r = c.Post("/v1/estimate", body, "application/octet-stream");
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << r->body;
      auto j = json::parse(r->body);
      if (std::min(w, h) < kMinFaceSide) {
        EXPECT_TRUE(j["faces"].empty());
        EXPECT_NE(j["message"].get<std::string>().find("too small to hold a face"), std::string::npos) << r->body;
      }
    }
  }
  // A real face in every encoding: the same decision as the plain JPEG, the
  // estimate within a year (JPEG loss and palette quantisation aside).
  const Image face = read_image(testing::real_photo(7).first);
  auto plain = json::parse(c.Post("/v1/estimate", jpeg_of(face), "image/jpeg")->body);
  ASSERT_EQ(plain["faces"].size(), 1u);
  for (const auto& cls : testing::camera_image_classes(face)) {
    SCOPED_TRACE(cls.name);
    auto r = c.Post("/v1/estimate", std::string(cls.bytes.begin(), cls.bytes.end()), "application/octet-stream");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto j = json::parse(r->body);
    ASSERT_EQ(j["faces"].size(), 1u) << r->body;
    const bool grey = cls.name.find("grey") != std::string::npos, palette = cls.name.find("palette") != std::string::npos;
    if (!grey && !palette) {
      EXPECT_NEAR(j["faces"][0]["age"].get<double>(), plain["faces"][0]["age"].get<double>(), 1.0);
    }
  }
}

// The socket-free entry the request fuzz target uses answers like the port.
TEST(Server, HandleBytesRunsTheSameRoutesWithoutASocket) {
  Server server(options());  // never started
  const std::string health = server.handle_bytes("GET /healthz HTTP/1.1\r\nHost: till\r\n\r\n");
  EXPECT_EQ(health.rfind("HTTP/1.1 200", 0), 0u) << health;
  const std::string jpeg = jpeg_of(read_image(testing::real_photo(2).first));
  const std::string est = server.handle_bytes("POST /v1/estimate HTTP/1.1\r\nHost: till\r\nContent-Type: image/jpeg\r\n"
                                              "Content-Length: " + std::to_string(jpeg.size()) + "\r\n\r\n" + jpeg);
  EXPECT_EQ(est.rfind("HTTP/1.1 200", 0), 0u) << est.substr(0, 200);
  EXPECT_NE(est.find("\"faces\""), std::string::npos);
  const std::string junk = server.handle_bytes("POST /v1/estimate HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(junk.rfind("HTTP/1.1 4", 0), 0u) << junk;
  // Found by fuzz_estimate: a header that is not UTF-8, echoed in the error
  // message, made the JSON encoder throw (500). Now 400 with U+FFFD.
  const std::string bad_time = server.handle_bytes(
      "POST /v1/estimate?store=s1&lane=2 HTTP/1.1\r\nX-Agegate-Time: 2026-1\x8e\x01\r\nContent-Type: image/jpeg\r\n"
      "Content-Length: " + std::to_string(jpeg.size()) + "\r\n\r\n" + jpeg);
  EXPECT_EQ(bad_time.rfind("HTTP/1.1 400", 0), 0u) << bad_time.substr(0, 300);
  EXPECT_NE(bad_time.find("bad_context"), std::string::npos) << bad_time.substr(0, 300);
  // The same class of bug as fuzz_policy found: a number JSON cannot hold is 400, not 500.
  const std::string huge = R"({"sales":[{"store":"s1","lane":9E999}]})";
  ServerOptions with_db = options();
  with_db.db = "sqlite:" + (testing::scratch_dir("handle-bytes") / "s.db").string();
  Server recording(with_db);
  const std::string sales = recording.handle_bytes("POST /v1/sales HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: " +
                                                   std::to_string(huge.size()) + "\r\n\r\n" + huge);
  EXPECT_EQ(sales.rfind("HTTP/1.1 400", 0), 0u) << sales.substr(0, 300);
  EXPECT_NE(sales.find("bad_json"), std::string::npos) << sales.substr(0, 300);
  // A TLS hello (or any bytes that are not HTTP) on the plain port.
  const std::string tls = server.handle_bytes("\x16\x03\x01 not http");
  EXPECT_EQ(tls.rfind("HTTP/1.1 400", 0), 0u) << "[" << tls << "]";
}

// Two shoppers in one frame: both are answered, the larger (nearer) face
// first, and main_face points at it.
TEST(Server, MainFaceIsTheLargestOfSeveral) {
  ServerOptions o = options();
  o.pipeline.detect = DetectMode::kOn;
  Running s(o);
  Image frame = testing::grey_frame(960, 560);
  testing::paste(frame, read_image(testing::real_photo(5).first), 500, 80, 2);  // 400x400 on the right
  testing::paste(frame, read_image(testing::real_photo(8).first), 80, 180, 1);  // 200x200 on the left
  auto c = s.client();
  auto r = c.Post("/v1/estimate", jpeg_of(frame), "image/jpeg");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  ASSERT_EQ(j["faces"].size(), 2u) << r->body;
  ASSERT_EQ(j["main_face"], 0);
  auto area = [](const json& f) { return f["box"]["width"].get<double>() * f["box"]["height"].get<double>(); };
  EXPECT_GT(area(j["faces"][0]), 2 * area(j["faces"][1]));
  EXPECT_GT(j["faces"][0]["box"]["x"].get<double>(), 450);  // the big face is the one on the right
  EXPECT_LT(j["faces"][1]["box"]["x"].get<double>(), 300);
  for (auto& f : j["faces"]) EXPECT_TRUE(f["detected"].get<bool>());
}

// Every file under `root`, as path -> size.
std::map<fs::path, uintmax_t> files_under(const fs::path& root) {
  std::map<fs::path, uintmax_t> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    out[it->path()] = it->is_regular_file() ? it->file_size() : 0;
  }
  return out;
}


// `agegate serve` as a process: SIGTERM while a request is in flight turns
// /readyz to 503, lets the request finish with 200 and exits 0.
// A model slow enough on one thread that a request is surely in flight when
// the test signals: ResNet-18 at 768 px (about 21 GFLOP, 1.0-1.3 s on one thread
// of this 2-core machine), random weights. The product has no switch to slow
// itself down.
fs::path slow_model() {
  return testing::save_random_model(testing::scratch_dir("slow-model") / "slow.agm", "resnet18", 768);
}

TEST(ServeProcess, SigtermDrainsInFlightRequestsAndExitsZero) {
  fs::path work = testing::scratch_dir("work");
  testing::AgegateProcess serve({"serve", "--port", "0", "--detect", "off", "--torch-threads", "1", "--model",
                                 slow_model().string()},
                                work);
  const int port = testing::serve_port_from_log(serve.wait_for_stderr("serving on http://"));
  ASSERT_GT(port, 0) << serve.err();
  httplib::Client c("127.0.0.1", port);
  auto in_flight = post_async(port, photo_bytes());
  ASSERT_TRUE(in_flight_reaches(c, 1)) << serve.err();
  serve.signal(SIGTERM);
  EXPECT_EQ(readyz_until_503(c, 50, 10), 503);
  auto done = in_flight.get();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, 200);
  EXPECT_EQ(serve.wait(30), 0) << serve.err();
  const std::string log = serve.err();
  EXPECT_NE(log.find("draining 1 request(s)"), std::string::npos) << log;
  EXPECT_NE(log.find("server stopped"), std::string::npos) << log;
  const json answer = json::parse(done->body);
  std::printf("the drained estimate took %.0f ms\n", answer["timing_ms"]["estimate"].get<double>());
}

// Every path a traced process created, opened for writing, renamed, linked,
// truncated or removed, with success, from `strace -f -o FILE` (its own and
// its threads' calls; failed attempts changed nothing and are left out).
std::vector<std::string> paths_written(const fs::path& trace) {
  static const std::vector<std::string> kAlways = {"creat(",   "mkdir(",   "mkdirat(",  "rename(",  "renameat(",
                                                   "renameat2(", "link(",  "linkat(",   "symlink(", "symlinkat(",
                                                   "unlink(",  "unlinkat(", "truncate("};
  std::vector<std::string> out;
  std::istringstream in(read_file(trace));
  for (std::string line; std::getline(in, line);) {
    if (line.find(" = -1 ") != std::string::npos || line.find("<unfinished") != std::string::npos) continue;
    const bool open = line.find(" open(") != std::string::npos || line.find(" openat(") != std::string::npos;
    const bool writes = open && (line.find("O_WRONLY") != std::string::npos || line.find("O_RDWR") != std::string::npos ||
                                 line.find("O_CREAT") != std::string::npos);
    const bool changes = std::any_of(kAlways.begin(), kAlways.end(),
                                     [&](const std::string& call) { return line.find(" " + call) != std::string::npos; });
    if (!writes && !changes) continue;
    for (size_t q = line.find('"'); q != std::string::npos; q = line.find('"', line.find('"', q + 1) + 1)) {
      const size_t e = line.find('"', q + 1);
      if (e == std::string::npos) break;
      out.push_back(line.substr(q + 1, e - q - 1));
    }
  }
  return out;
}

// The pid of the running process whose program is `exe` and whose command line holds `marker`.
int pid_of(const std::string& exe, const std::string& marker) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code ec;
    const fs::path program = fs::read_symlink(e.path() / "exe", ec);
    if (ec || program != fs::path(exe)) continue;
    std::ifstream cmd(e.path() / "cmdline");
    const std::string line((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
    if (line.find(marker) != std::string::npos) return std::stoi(name);
  }
  return -1;
}

// Privacy: a service with its own working, home and temporary folders, traced
// from start to stop (strace -f: every file it or any of its threads creates,
// writes, renames or removes), answers photos, a bad body and a wrong token,
// and stops. It touched no file at all outside /dev/null; its working, home
// and temporary folders are as they were; its log holds no token and none of
// the photos' bytes or decoded pixels, raw, base64 or hex.
// Run once per log format (plain and --log-format json).
void serving_photos_writes_no_file_and_no_pixels(const std::string& log_format) {
  fs::path root = testing::scratch_dir("privacy");
  for (const char* d : {"work", "home", "tmp"}) fs::create_directories(root / d);
  const auto before = files_under(root);
  const fs::path trace = testing::scratch_dir("privacy-trace") / "strace.log";
  const std::string token = "s3cret-token-0123456789";
  testing::AgegateProcess serve(
      {"-f", "-qq", "-o", trace.string(), "-e",
       "trace=open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,unlink,unlinkat,"
       "truncate",
       AGEGATE_TEST_AGEGATE_EXE, "serve", "--port", "0", "--detect", "auto", "--torch-threads", "1", "--token", token,
       "--model", tiny_model().string(), "--log-format", log_format},
      root / "work",
      {"HOME=" + (root / "home").string(), "TMPDIR=" + (root / "tmp").string(),
       "XDG_CACHE_HOME=" + (root / "home" / ".cache").string(),
       // In the sanitizer build: LeakSanitizer cannot run under a tracer
       // (it stops the threads with ptrace); every other test checks leaks.
       "ASAN_OPTIONS=detect_leaks=0:detect_odr_violation=0:abort_on_error=0"},
      -1, "/usr/bin/strace");
  const int port = testing::serve_port_from_log(serve.wait_for_stderr("serving on http://"));
  ASSERT_GT(port, 0) << serve.err();
  httplib::Client c("127.0.0.1", port);
  httplib::Headers auth{{"Authorization", "Bearer " + token}};
  std::vector<std::string> sent;
  for (int i : {3, 4, 5}) {
    sent.push_back(photo_bytes(i));
    auto r = c.Post("/v1/estimate", auth, sent.back(), "image/jpeg");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  auto bad = c.Post("/v1/estimate", auth, sent[0].substr(0, sent[0].size() / 3), "image/jpeg");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  auto wrong = c.Post("/v1/estimate", httplib::Headers{{"Authorization", "Bearer s3cret-token-012345678X"}}, sent[1], "image/jpeg");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  // SIGTERM to the service itself (strace, its parent, would only detach).
  const int service = pid_of(fs::canonical(AGEGATE_TEST_AGEGATE_EXE).string(), token);
  ASSERT_GT(service, 0);
  ::kill(service, SIGTERM);
  ASSERT_EQ(serve.wait(30), 0) << serve.err();

  const std::vector<std::string> written = paths_written(trace);
  for (const auto& p : written) EXPECT_EQ(p, "/dev/null") << "the service wrote or changed a file";
  EXPECT_EQ(files_under(root), before) << "the service wrote into its working, home or temporary folder";
  // The trace saw the service's own reads: it was watching the right process.
  EXPECT_NE(read_file(trace).find(tiny_model().string()), std::string::npos);
  const std::string log = serve.err() + serve.out();
  EXPECT_EQ(log.find("s3cret"), std::string::npos) << "the token reached the log";
  for (char ch : log) {
    const auto u = static_cast<unsigned char>(ch);
    ASSERT_TRUE(u == '\n' || (u >= 0x20 && u < 0x7f)) << "non-text byte " << int(u) << " in the log";
  }
  for (const auto& needle : testing::photo_leak_needles(sent)) {
    EXPECT_EQ(log.find(needle), std::string::npos) << "a photo's bytes or pixels in the log";
  }
  EXPECT_NE(log.find("estimate: 200x200"), std::string::npos) << log;  // it did log the requests, as sizes
  if (log_format == "json") {
    std::istringstream lines(serve.err());
    for (std::string line; std::getline(lines, line);) EXPECT_NO_THROW(json::parse(line)) << line;
  }
}

TEST(ServeProcess, ServingPhotosWritesNoFileAndNoPixelsInThePlainLog) {
  AGEGATE_REQUIRE(fs::exists("/usr/bin/strace"), "no strace (scripts/install-deps.sh --with-test-tools)");
  serving_photos_writes_no_file_and_no_pixels("plain");
}

TEST(ServeProcess, ServingPhotosWritesNoFileAndNoPixelsInTheJsonLog) {
  AGEGATE_REQUIRE(fs::exists("/usr/bin/strace"), "no strace (scripts/install-deps.sh --with-test-tools)");
  serving_photos_writes_no_file_and_no_pixels("json");
}

TEST(Server, EachErrorTypeMapsToOneStatus) {
  std::string code;
  EXPECT_EQ(http_status_for(InvalidInput("bad photo"), &code), 400);
  EXPECT_EQ(code, "bad_request");
  EXPECT_EQ(http_status_for(IoError("disk"), &code), 500);
  EXPECT_EQ(code, "internal");
  EXPECT_EQ(http_status_for(ModelError("model"), &code), 500);
  EXPECT_EQ(http_status_for(InternalError("bug"), &code), 500);
  EXPECT_EQ(http_status_for(std::runtime_error("other"), &code), 500);
}

}  // namespace
}  // namespace agegate
