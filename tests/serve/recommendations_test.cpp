// GET /v1/recommendations: answers for an age or a band from the file
// `agegate insights` writes, validates its query, never offers restricted
// goods below the served policy's challenge age, and says 503 without a file.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/insights/insights.h"
#include "agegate/serve/server.h"
#include "serve_fixture.h"
#include "test_support.h"

namespace agegate {
namespace {
using json = nlohmann::json;

// Beer is what 35-44 buy more; 19-24 buy it more too (but may never be offered it).
std::filesystem::path recommendations_file() {
  RetailData d;
  d.households = {{"young", "19-24"}, {"mid", "35-44"}, {"old", "65+"}};
  d.products = {{"beer", "GROCERY", "BEERS/ALES", "LAGER", "National", true},
                {"pizza", "GROCERY", "FROZEN PIZZA", "PIZZA", "National", false},
                {"milk", "GROCERY", "FLUID MILK PRODUCTS", "MILK", "National", false}};
  int64_t line = 1;
  auto add = [&](const std::string& household, int n, const std::vector<std::string>& products) {
    for (int i = 0; i < n; ++i) {
      const std::string basket = household + std::to_string(i);
      for (const auto& p : products) d.lines.push_back({++line, basket, household, "s1", p, 1, 3, 1, 0});
    }
  };
  add("young", 30, {"beer", "pizza"});
  add("mid", 30, {"beer"});
  add("old", 90, {"milk"});
  InsightsOptions o;
  o.resamples = 0;
  const InsightsResult r = compute_insights(d, o, nullptr);
  const auto dir = testing::scratch_dir("serve_recommendations");
  write_file_atomic(dir / "recommendations.json", recommender_from(r).to_json().dump());
  return dir / "recommendations.json";
}

ServerOptions options() { return testing::tiny_server_options(DetectMode::kOff); }

std::vector<std::string> categories(const httplib::Result& r) {
  std::vector<std::string> out;
  const json body = json::parse(r->body);  // kept alive for the loop
  for (const auto& i : body.at("items")) out.push_back(i.at("category"));
  return out;
}

bool offers_beer(const httplib::Result& r) {
  const auto c = categories(r);
  return std::find(c.begin(), c.end(), "BEERS/ALES") != c.end();
}

TEST(Recommendations, AnswersForAnAgeOrABandAndNeverOffersAlcoholBelowTheChallengeAge) {
  ServerOptions o = options();
  o.recommendations = recommendations_file();
  Server server(o);
  server.start();
  httplib::Client c("127.0.0.1", server.port());

  auto r = c.Get("/v1/recommendations?age=40");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j.at("band"), "35-44");
  EXPECT_EQ(j.at("challenge_age"), 25);
  EXPECT_TRUE(offers_beer(r)) << r->body;

  for (const char* young : {"age=19", "age=22.7", "age=24.99", "age=16", "band=19-24"}) {
    r = c.Get(std::string("/v1/recommendations?") + young);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << young << r->body;
    EXPECT_FALSE(offers_beer(r)) << young;
    EXPECT_FALSE(json::parse(r->body).at("restricted_allowed").get<bool>()) << young;
  }
  r = c.Get("/v1/recommendations?band=19-24&k=1");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(categories(r), std::vector<std::string>{"FROZEN PIZZA"});

  for (const char* bad : {"", "age=abc", "age=30&band=25-34", "band=30-39", "age=-3", "age=500", "k=0&age=30",
                          "k=2.5&age=30", "colour=red&age=30"}) {
    r = c.Get(std::string("/v1/recommendations?") + bad);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad << " " << r->body;
    EXPECT_EQ(json::parse(r->body).at("error").at("code"), "bad_query") << bad;
  }
  server.stop();
}

TEST(Recommendations, TheServedPolicysChallengeAgeApplies) {
  ServerOptions o = options();
  o.recommendations = recommendations_file();
  o.policy.challenge_age = 45;
  Server server(o);
  server.start();
  httplib::Client c("127.0.0.1", server.port());
  auto r = c.Get("/v1/recommendations?age=40");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_FALSE(offers_beer(r));
  EXPECT_EQ(json::parse(r->body).at("challenge_age"), 45);
  server.stop();
}

TEST(Recommendations, WithoutAFileTheRouteSays503AndABadFileStopsTheStart) {
  Server server(options());
  server.start();
  httplib::Client c("127.0.0.1", server.port());
  auto r = c.Get("/v1/recommendations?age=40");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(json::parse(r->body).at("error").at("code"), "no_recommendations");
  server.stop();

  const auto dir = testing::scratch_dir("serve_bad_recommendations");
  write_file_atomic(dir / "r.json", "{\"format\": \"agegate-recommendations\", \"version\": 7}");
  ServerOptions bad = options();
  bad.recommendations = dir / "r.json";
  EXPECT_THROW(Server s(bad), InvalidInput);
}

}  // namespace
}  // namespace agegate
