// The service with a checkout database: what an estimate records, POST
// /v1/sales, and that no photo byte ever reaches the database.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <chrono>
#include <thread>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/time.h"
#include "agegate/model/model_file.h"
#include "agegate/serve/server.h"
#include "agegate/store/records.h"
#include "agegate/store/store.h"
#include "serve_fixture.h"
#include "test_db.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;


ServerOptions options(const std::string& db) {
  ServerOptions o = testing::tiny_server_options(DetectMode::kOff);
  o.db = db;
  return o;
}

json sale_json(const std::string& txn) {
  return {{"transaction", txn}, {"store", "S1"}, {"lane", "2"}, {"cashier", "c9"},
          {"time", "2026-11-21T10:00:30Z"}, {"id_check", "not_checked"},
          {"lines", {{{"product", "p1"}, {"category", "LIQUOR"}, {"price", 20.0}, {"restricted", true}}}}};
}

class ServeRecords : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgresql") {
      AGEGATE_REQUIRE(testing::postgres_base_url(), "no PostgreSQL cluster (run through scripts/with-postgres.sh)");
      url_ = testing::fresh_postgres_url("serve");
    } else {
      url_ = testing::fresh_sqlite_url("serve");
    }
  }
  std::string url_;
};

TEST_P(ServeRecords, AnEstimateWithAContextIsRecordedAndOneWithoutIsNot) {
  Server server(options(url_));
  server.start();
  httplib::Client c("127.0.0.1", server.port());
  const std::string photo = read_file(testing::real_photo(0).first);
  httplib::Headers h{{"X-Agegate-Store", "S1"}, {"X-Agegate-Lane", "2"}, {"X-Agegate-Transaction", "T-77"},
                     {"X-Agegate-Cashier", "c9"}, {"X-Agegate-Time", "2026-11-21T10:00:00Z"}};
  auto r = c.Post("/v1/estimate", h, photo, "image/jpeg");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  EXPECT_TRUE(body.at("recorded").get<bool>());
  // The same through query parameters, without the till's time.
  r = c.Post("/v1/estimate?store=S1&lane=3", photo, "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_TRUE(json::parse(r->body).at("recorded").get<bool>());
  // No context: answered, not recorded.
  r = c.Post("/v1/estimate", photo, "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(json::parse(r->body).contains("recorded"));
  // A bad context is the caller's error, before any work.
  for (const char* q : {"/v1/estimate?lane=3", "/v1/estimate?store=S1&lane=3&time=yesterday",
                        "/v1/estimate?store=S1&lane=3&cashier=Jane%20Smith"}) {
    r = c.Post(q, photo, "image/jpeg");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << q;
    EXPECT_EQ(json::parse(r->body).at("error").at("code"), "bad_context") << r->body;
  }
  server.stop();

  auto store = Store::open(url_);
  const auto events = store->events({});
  ASSERT_EQ(events.size(), 2u);
  const CheckoutEvent& e = events[0];
  EXPECT_EQ(e.event_id, body.at("event_id").get<std::string>());
  EXPECT_EQ(e.time_ms, parse_iso8601("2026-11-21T10:00:00Z", "t"));
  EXPECT_EQ(e.context.transaction, "T-77");
  EXPECT_EQ(e.context.cashier, "c9");
  EXPECT_EQ(e.model, "random.agm@unknown");
  EXPECT_EQ(json::parse(e.policy).at("challenge_age"), 25);
  EXPECT_EQ(e.faces, 1);
  const json& face = body.at("faces")[0];
  EXPECT_EQ(e.decision, face.at("decision").get<std::string>());
  EXPECT_EQ(e.reason, face.at("reason").get<std::string>());
  ASSERT_TRUE(e.estimate.has_value());
  EXPECT_DOUBLE_EQ(*e.estimate, face.at("age").get<double>());
  EXPECT_DOUBLE_EQ(*e.p_under_legal, face.at("p_under_legal").get<double>());
  EXPECT_GT(e.total_ms, 0);
  // The server's clock when the till sends none.
  EXPECT_NEAR(static_cast<double>(events[1].time_ms), static_cast<double>(now_ms()), 120000.0);
  EXPECT_EQ(events[1].context.lane, "3");
}

// --retention-days: the service prunes when it starts (then hourly): an
// event and a sale an hour past the limit go, an hour inside it stay.
TEST_P(ServeRecords, RetentionDeletesWhatIsPastTheLimitAndKeepsTheRest) {
  constexpr int kDays = 90;
  constexpr int64_t kHour = 3600 * kMsPerSecond;
  const int64_t now = now_ms(), cutoff = now - kDays * kMsPerDay;
  {
    auto store = Store::open(url_);
    for (int64_t t : {cutoff - kHour, cutoff + kHour}) {
      CheckoutEvent e;
      e.event_id = new_event_id();
      e.time_ms = t;
      e.context = {"S1", "2", "", "", std::nullopt};
      e.model = "m@1";
      e.decision = "no_face";
      store->record_event(e);
      Sale s = parse_sale(sale_json(t < cutoff ? "old" : "new"), "test");
      s.time_ms = t;
      store->record_sales({s});
    }
  }
  ServerOptions o = options(url_);
  o.retention_days = kDays;
  Server server(o);
  server.start();
  StoreCounts c;
  for (int i = 0; i < 300; ++i) {
    c = Store::open(url_)->counts();
    if (c.events == 1 && c.sales == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  server.stop();
  EXPECT_EQ(c.events, 1);
  EXPECT_EQ(c.sales, 1);
  auto store = Store::open(url_);
  EXPECT_EQ(store->events({}).at(0).time_ms, cutoff + kHour);
  EXPECT_EQ(store->sales({}, false).at(0).transaction, "new");
}

// The database fails under the running service (its events table vanishes,
// renamed from another connection): the till still gets its decision, with
// "recorded": false, and the failure is counted; nothing else breaks.
TEST_P(ServeRecords, AFailingDatabaseStillAnswersTheTillAndCountsTheFailure) {
  Server server(options(url_));
  server.start();
  httplib::Client c("127.0.0.1", server.port());
  const std::string photo = read_file(testing::real_photo(0).first);
  auto first = c.Post("/v1/estimate?store=S1&lane=2", photo, "image/jpeg");
  ASSERT_TRUE(first);
  ASSERT_TRUE(json::parse(first->body).at("recorded").get<bool>());
  const std::string sql = "ALTER TABLE checkout_events RENAME TO checkout_events_gone";
  if (GetParam() == "sqlite") {
    testing::exec_sqlite(url_.substr(7), sql);
  } else {
    testing::exec_postgres(url_, sql);
  }
  auto r = c.Post("/v1/estimate?store=S1&lane=2", photo, "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  EXPECT_FALSE(body.at("recorded").get<bool>()) << r->body;
  // The same decision the recorded request got: the failure costs the till nothing.
  ASSERT_EQ(body.at("faces").size(), 1u) << r->body;
  EXPECT_EQ(body.at("faces")[0].at("decision"), json::parse(first->body).at("faces")[0].at("decision")) << r->body;
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("\nagegate_event_record_failures_total 1\n"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("\nagegate_events_recorded_total 1\n"), std::string::npos) << m->body;
  auto h = c.Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  server.stop();
}

TEST_P(ServeRecords, SalesAreAllOrNothingWithTheBadFieldNamed) {
  Server server(options(url_));
  server.start();
  httplib::Client c("127.0.0.1", server.port());
  auto r = c.Post("/v1/sales", sale_json("T1").dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(json::parse(r->body).at("inserted"), 1);
  json bad = sale_json("T3");
  bad["lines"][0]["price"] = -4;
  r = c.Post("/v1/sales", json{{"sales", {sale_json("T2"), bad}}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("sales[1]"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("lines[0].price"), std::string::npos) << r->body;
  r = c.Post("/v1/sales", json::array({sale_json("T1"), sale_json("T2")}).dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(json::parse(r->body).at("duplicates"), 1);
  r = c.Post("/v1/sales", "{", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = c.Post("/v1/sales", sale_json("T4").dump(), "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  server.stop();
  auto store = Store::open(url_);
  EXPECT_EQ(store->counts().sales, 2);  // T1, T2; T3's batch wrote nothing
}

INSTANTIATE_TEST_SUITE_P(Backends, ServeRecords, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST(ServeRecordsConfig, SalesNeedADatabaseAndABadUrlIsRefusedAtStart) {
  ServerOptions o = options("");
  Server server(o);
  server.start();
  httplib::Client c("127.0.0.1", server.port());
  auto r = c.Post("/v1/sales", sale_json("T1").dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(json::parse(r->body).at("error").at("code"), "no_database");
  server.stop();
  EXPECT_THROW(Server(options("mysql://nowhere")), InvalidInput);
  EXPECT_THROW(Server(options("sqlite:/nonexistent-folder/x.db")), IoError);
}

// Privacy: after serving photos with a context, no window of any photo's
// bytes is anywhere in the database files (main file and write-ahead log),
// and no stored text is long enough to hold an image or a template.
TEST(ServeRecordsPrivacy, TheDatabaseHoldsNoPhotoBytes) {
  const std::string url = testing::fresh_sqlite_url("privacy");
  const fs::path file = url.substr(7);
  std::vector<std::string> photos;
  {
    Server server(options(url));
    server.start();
    httplib::Client c("127.0.0.1", server.port());
    for (int i = 0; i < 6; ++i) {
      photos.push_back(read_file(testing::real_photo(i).first));
      auto r = c.Post("/v1/estimate?store=S1&lane=1&transaction=T" + std::to_string(i), photos.back(), "image/jpeg");
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200);
    }
    server.stop();
  }
  std::string stored;
  for (const auto& entry : fs::directory_iterator(file.parent_path())) stored += read_file(entry.path());
  ASSERT_GT(stored.size(), 0u);
  // The photos' bytes and decoded pixels, raw, base64 or hex.
  const auto needles = testing::photo_leak_needles(photos);
  ASSERT_GT(needles.size(), 100u);
  for (const auto& needle : needles) EXPECT_EQ(stored.find(needle), std::string::npos) << "a photo in the database";
  auto store = Store::open(url);
  for (const auto& e : store->events({})) {
    for (const std::string* text : {&e.event_id, &e.model, &e.policy, &e.reason, &e.decision}) {
      EXPECT_LT(text->size(), 256u) << *text;
    }
  }
}

}  // namespace
}  // namespace agegate
