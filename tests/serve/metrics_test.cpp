// The service's Prometheus exposition, part by part: every line is a
// comment or a sample in the text format, counters count what was recorded,
// the latency histogram is cumulative and ends at +Inf with the count, and
// the connection counters read the shared stats.
#include "metrics.h"

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

namespace agegate {
namespace {

// sample name with labels -> value, for every non-comment line; fails on a malformed line.
std::map<std::string, double> samples(const std::string& text) {
  static const std::regex sample(R"(^([a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})?) (-?[0-9.e+-]+|\+Inf)$)");
  static const std::regex comment(R"(^# (HELP|TYPE) [a-z_]+ .+$)");
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, comment)) continue;
    EXPECT_TRUE(std::regex_match(line, m, sample)) << "not a Prometheus sample line: " << line;
    if (m.size() > 4) out[m[1]] = std::stod(m[4]);
  }
  return out;
}

TEST(Metrics, CountsRequestsDecisionsAndRecordsByName) {
  Metrics m;
  m.record("/v1/estimate", 200);
  m.record("/v1/estimate", 200);
  m.record("/v1/estimate", 503);
  m.record("/healthz", 200);
  m.decision("id_check");
  m.decision("no_face");
  m.decision("id_check");
  m.event_recorded(true);
  m.event_recorded(false);
  m.sales(7);
  const auto s = samples(m.exposition(3));
  EXPECT_EQ(s.at(R"(agegate_requests_total{route="/v1/estimate",status="200"})"), 2);
  EXPECT_EQ(s.at(R"(agegate_requests_total{route="/v1/estimate",status="503"})"), 1);
  EXPECT_EQ(s.at(R"(agegate_requests_total{route="/healthz",status="200"})"), 1);
  EXPECT_EQ(s.at(R"(agegate_decisions_total{outcome="id_check"})"), 2);
  EXPECT_EQ(s.at(R"(agegate_decisions_total{outcome="no_face"})"), 1);
  EXPECT_EQ(s.at("agegate_events_recorded_total"), 1);
  EXPECT_EQ(s.at("agegate_event_record_failures_total"), 1);
  EXPECT_EQ(s.at("agegate_sales_recorded_total"), 7);
  EXPECT_EQ(s.at("agegate_in_flight"), 3);
}

TEST(Metrics, TheLatencyHistogramIsCumulativeAndEndsWithTheCount) {
  Metrics m;
  const std::vector<double> seconds = {0.004, 0.005, 0.02, 0.3, 0.3, 7.0, 45.0};
  for (double v : seconds) m.observe(v);
  const auto s = samples(m.exposition(0));
  auto bucket = [&](const std::string& le) { return s.at("agegate_request_duration_seconds_bucket{le=\"" + le + "\"}"); };
  EXPECT_EQ(bucket("0.005"), 2);  // le is inclusive
  EXPECT_EQ(bucket("0.025"), 3);
  EXPECT_EQ(bucket("0.5"), 5);
  EXPECT_EQ(bucket("10"), 6);
  EXPECT_EQ(bucket("30"), 6);     // 45 s is over the last bound
  EXPECT_EQ(bucket("+Inf"), 7);
  EXPECT_EQ(s.at("agegate_request_duration_seconds_count"), 7);
  EXPECT_NEAR(s.at("agegate_request_duration_seconds_sum"), 52.629, 1e-9);
  double previous = 0;
  for (double le : kLatencyBuckets) {
    std::ostringstream name;
    name << le;
    const double v = bucket(name.str());
    EXPECT_GE(v, previous) << "bucket le=" << le;
    previous = v;
  }
}

TEST(Metrics, CountsFromManyThreadsAddUp) {
  Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < 1000; ++i) {
        m.record("/v1/estimate", 200);
        m.observe(0.01);
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto s = samples(m.exposition(0));
  EXPECT_EQ(s.at(R"(agegate_requests_total{route="/v1/estimate",status="200"})"), 8000);
  EXPECT_EQ(s.at("agegate_request_duration_seconds_count"), 8000);
}

TEST(Metrics, ConnectionCountersReadTheSharedStats) {
  ConnectionStats c;
  c.open = 3;
  c.accepted = 40;
  c.rejected = 2;
  c.deadline_cut = 5;
  c.tls_failed = 1;
  const auto s = samples(connection_exposition(c));
  EXPECT_EQ(s.at("agegate_connections_open"), 3);
  EXPECT_EQ(s.at(R"(agegate_connections_total{outcome="accepted"})"), 40);
  EXPECT_EQ(s.at(R"(agegate_connections_total{outcome="rejected"})"), 2);
  EXPECT_EQ(s.at(R"(agegate_connections_total{outcome="deadline"})"), 5);
  EXPECT_EQ(s.at(R"(agegate_connections_total{outcome="tls_failed"})"), 1);
}

}  // namespace
}  // namespace agegate
