// The service in-process on a free port, driven with httplib::Client.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <future>
#include <set>
#include <thread>
#include <vector>

#include <zlib.h>

#include "agegate/core/fs.h"
#include "agegate/data/image.h"
#include "agegate/model/model_file.h"
#include "agegate/serve/server.h"
#include "agegate/core/error.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

fs::path tiny_model() {
  static fs::path p = [] {
    fs::path dir = fs::path(AGEGATE_TEST_BINARY_DIR) / "test-scratch" / "serve-model";
    fs::create_directories(dir);
    ModelConfig cfg;  // random weights: speed and shapes do not depend on them
    AgeNet net(cfg);
    ModelInfo info;
    info.config = cfg;
    info.preprocess.input_size = 64;
    save_model_file(dir / "random.agm", net, info);
    return dir / "random.agm";
  }();
  return p;
}

std::string photo_bytes(int i = 0) {
  return read_file(testing::real_photo(i).first);
}

struct Running {
  explicit Running(ServerOptions o) : server(o) { server.start(); }
  httplib::Client client() { return httplib::Client("127.0.0.1", server.port()); }
  Server server;
};

ServerOptions options() {
  ServerOptions o;
  o.port = 0;
  o.pipeline.model = tiny_model();
  o.pipeline.threads = 1;
  return o;
}

// Request counters are recorded by httplib's logger right after the response
// is written, so a client may see its answer a moment before the count.
std::string metrics_when(httplib::Client& c, const std::string& needle) {
  std::string body;
  for (int i = 0; i < 50; ++i) {
    auto m = c.Get("/metrics");
    body = m ? m->body : "";
    if (body.find(needle) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return body;
}

std::set<fs::path> listing(const fs::path& root) {
  std::set<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!ec) out.insert(it->path());
  }
  return out;
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
  std::string m = metrics_when(c, ok);
  EXPECT_NE(m.find(ok), std::string::npos) << m;
  EXPECT_NE(m.find("agegate_request_duration_seconds_count 1"), std::string::npos);
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
  std::string m = metrics_when(c, "status=\"200\"} 1");
  EXPECT_NE(m.find("status=\"413\"} 2"), std::string::npos) << m;
  EXPECT_NE(m.find("status=\"400\"} 3"), std::string::npos) << m;
}

TEST(Server, BearerTokenIsRequiredWhenSet) {
  ServerOptions o = options();
  o.token = "s3cret";
  Running s(o);
  auto c = s.client();
  auto no = c.Post("/v1/estimate", photo_bytes(), "image/jpeg");
  ASSERT_TRUE(no);
  EXPECT_EQ(no->status, 401);
  httplib::Headers auth{{"Authorization", "Bearer s3cret"}};
  auto yes = c.Post("/v1/estimate", auth, photo_bytes(), "image/jpeg");
  ASSERT_TRUE(yes);
  EXPECT_EQ(yes->status, 200);
}

TEST(Server, AFullQueueAnswers503WithRetryAfterAndRecovers) {
  ServerOptions o = options();
  o.threads = 1;
  o.max_queue = 1;
  Running s(o);
  s.server.set_test_delay_ms(400);
  std::string jpeg = photo_bytes();
  std::vector<std::future<int>> fs;
  for (int i = 0; i < 6; ++i) {
    fs.push_back(std::async(std::launch::async, [&] {
      auto c = s.client();
      auto r = c.Post("/v1/estimate", jpeg, "image/jpeg");
      if (r && r->status == 503) EXPECT_EQ(r->get_header_value("Retry-After"), "1");
      return r ? r->status : -1;
    }));
  }
  int ok = 0, busy = 0;
  for (auto& f : fs) {
    int st = f.get();
    ok += st == 200;
    busy += st == 503;
  }
  EXPECT_EQ(ok + busy, 6);
  EXPECT_GE(busy, 3);
  EXPECT_GE(ok, 1);
  s.server.set_test_delay_ms(0);
  auto c = s.client();
  auto r = c.Post("/v1/estimate", jpeg, "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(Server, ServingAPhotoLeavesNoNewFileBehind) {
  Running s(options());
  auto before_cwd = listing(fs::current_path());
  auto before_tmp = listing(fs::temp_directory_path());
  auto c = s.client();
  auto r = c.Post("/v1/estimate", photo_bytes(3), "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(listing(fs::current_path()), before_cwd);
  EXPECT_EQ(listing(fs::temp_directory_path()), before_tmp);
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
