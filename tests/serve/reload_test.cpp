// Model roll-out without a restart: Server::reload() (SIGHUP) and POST
// /admin/reload swap the model under load with no failed request; a broken
// or foreign file is refused and the old model keeps serving; a request in
// flight finishes on the model it started with.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/model/imagenet_import.h"
#include "agegate/model/model_file.h"
#include "agegate/serve/server.h"
#include "serve_fixture.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

// A second model with other random weights (so another SHA-256).
fs::path other_model() {
  static const fs::path p =
      testing::save_random_model(testing::scratch_dir("reload-model-b") / "b.agm", "mobilenet_v2", 64, "model-b");
  return p;
}

// Puts `from` at `to` the way an operator should: a copy beside it, then a rename.
void roll_out(const fs::path& from, const fs::path& to) {
  const fs::path tmp = to.string() + ".new";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
  fs::rename(tmp, to);
}

void write_bytes(const fs::path& to, const std::string& bytes) { write_file_atomic(to, bytes); }

std::string photo() { return read_file(testing::real_photo(0).first); }

struct Served {
  fs::path model;  // the configured path the operator replaces
  std::unique_ptr<Server> server;
  explicit Served(const std::string& name, int admin_port = -1, const std::string& token = "") {
    model = testing::scratch_dir(name) / "serving.agm";
    fs::copy_file(testing::tiny_model(), model);
    ServerOptions o = testing::tiny_server_options();
    o.pipeline.model = model;
    o.threads = 2;
    o.max_queue = 64;
    o.admin_port = admin_port;
    o.token = token;
    server = std::make_unique<Server>(o);
    server->start();
  }
};

TEST(Reload, SwapsTheModelUnderLoadWithoutAFailedRequest) {
  Served s("reload-load", 0);
  const std::string a = sha256_file(testing::tiny_model());
  const std::string b = sha256_file(other_model());
  ASSERT_NE(a, b);
  EXPECT_EQ(s.server->model()["sha256"], a);
  const std::string jpeg = photo();
  std::atomic<bool> done{false};
  std::mutex mu;
  std::map<int, int> statuses;
  std::vector<std::vector<std::string>> seen(3);  // per client, the model of each answer in order
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", s.server->port());
      while (!done) {
        auto r = c.Post("/v1/estimate", jpeg, "image/jpeg");
        std::lock_guard<std::mutex> lock(mu);
        statuses[r ? r->status : -1]++;
        if (r && r->status == 200) {
          const std::string sha = json::parse(r->body)["model"]["sha256"];
          EXPECT_EQ(r->get_header_value("X-Agegate-Model"), sha);
          seen[t].push_back(sha);
        }
      }
    });
  }
  auto answered = [&] {
    std::lock_guard<std::mutex> lock(mu);
    int n = 0;
    for (const auto& [status, count] : statuses) n += count;
    return n;
  };
  auto wait_for = [&](int n) {
    for (int i = 0; i < 3000 && answered() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  };
  wait_for(10);
  roll_out(other_model(), s.model);
  s.server->reload();  // what SIGHUP does
  EXPECT_EQ(s.server->model()["sha256"], b);
  wait_for(answered() + 10);
  // A broken file (cut short) is refused; B keeps serving.
  write_bytes(s.model, read_file(testing::tiny_model()).substr(0, 5000));
  EXPECT_THROW(s.server->reload(), ModelError);
  EXPECT_EQ(s.server->model()["sha256"], b);
  wait_for(answered() + 10);
  // Back to A through the admin port.
  roll_out(testing::tiny_model(), s.model);
  httplib::Client admin("127.0.0.1", s.server->admin_port());
  auto r = admin.Post("/admin/reload", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["model_in_force"]["sha256"], a);
  EXPECT_TRUE(json::parse(r->body)["model"]["changed"].get<bool>());
  wait_for(answered() + 10);
  done = true;
  for (auto& c : clients) c.join();

  EXPECT_EQ(statuses.size(), 1u) << "some request did not get 200";
  EXPECT_GT(statuses[200], 30);
  // Each client saw A, then B, then A again, never back and forth.
  int saw_b = 0;
  for (const auto& order : seen) {
    int phase = 0;  // 0: A, 1: B, 2: A again
    for (const auto& sha : order) {
      if (phase == 0 && sha == b) phase = 1;
      if (phase == 1 && sha == a) phase = 2;
      EXPECT_EQ(sha, phase == 1 ? b : a) << "a client went back to an older model";
      saw_b += sha == b;
    }
  }
  EXPECT_GT(saw_b, 0);
  std::printf("%d estimates during three swaps (two taken, one refused): %zu status(es), %d answered by model B\n",
              statuses[200], statuses.size(), saw_b);
  auto ready = admin.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(json::parse(ready->body)["model"]["sha256"], a);
}

TEST(Reload, AForeignFileIsRefusedAndTheOldModelKeepsServing) {
  Served s("reload-foreign", 0);
  const std::string a = sha256_file(testing::tiny_model());
  httplib::Client admin("127.0.0.1", s.server->admin_port());
  httplib::Client main("127.0.0.1", s.server->port());
  // A JPEG where the model should be; then no file at all.
  for (const std::string& bytes : {photo(), std::string()}) {
    if (bytes.empty()) {
      fs::remove(s.model);
    } else {
      write_bytes(s.model, bytes);
    }
    auto r = admin.Post("/admin/reload", "", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 422) << r->body;
    const json j = json::parse(r->body);
    EXPECT_FALSE(j["model"]["reloaded"].get<bool>());
    EXPECT_NE(j["model"]["error"].get<std::string>().find(s.model.string()), std::string::npos) << j.dump();
    EXPECT_EQ(j["model_in_force"]["sha256"], a);
    auto e = main.Post("/v1/estimate", photo(), "image/jpeg");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->status, 200);
    EXPECT_EQ(json::parse(e->body)["model"]["sha256"], a);
  }
  // The admin route is only on the admin port.
  auto r = main.Post("/admin/reload", "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST(Reload, ARequestInFlightFinishesOnTheModelItStartedWith) {
  Served s("reload-inflight");
  const std::string a = sha256_file(testing::tiny_model());
  const std::string b = sha256_file(other_model());
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, open = false;
  s.server->set_test_hook([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (entered) return;  // only the first request waits
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
  });
  const int port = s.server->port();
  auto held = std::async(std::launch::async, [port] {
    httplib::Client c("127.0.0.1", port);
    return c.Post("/v1/estimate", photo(), "image/jpeg");
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return entered; }));
  }
  roll_out(other_model(), s.model);
  s.server->reload();
  httplib::Client c("127.0.0.1", port);
  auto fresh = c.Post("/v1/estimate", photo(), "image/jpeg");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(json::parse(fresh->body)["model"]["sha256"], b);
  {
    std::lock_guard<std::mutex> lock(mu);
    open = true;
  }
  cv.notify_all();
  auto r = held.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["model"]["sha256"], a) << "the held request changed model midway";
}

TEST(Reload, TheAdminRouteWantsTheTokenWhenOneIsSet) {
  const std::string token = "admin-token-0123456789";
  Served s("reload-auth", 0, token);
  httplib::Client admin("127.0.0.1", s.server->admin_port());
  auto denied = admin.Post("/admin/reload", "", "application/json");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  auto ok = admin.Post("/admin/reload", httplib::Headers{{"Authorization", "Bearer " + token}}, "", "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_FALSE(json::parse(ok->body)["model"]["changed"].get<bool>());
}

}  // namespace
}  // namespace agegate
