// The service's Prometheus metrics (private to serve/): requests by route and
// status, the /v1/estimate latency histogram, decisions by outcome, checkout
// events and sales recorded, estimations in flight, and the connections of
// both ports, in the text exposition format (version 0.0.4) that
// GET /metrics answers.
//
//   Metrics m;
//   m.record("/v1/estimate", 200);  m.observe(0.013);  m.decision("id_check");
//   std::string text = m.exposition(/*in_flight=*/1) + connection_exposition(stats);
//
// Thread-safe (one mutex; the counters are cheap next to an estimate). The
// metrics hold counts and timings only: never a photo, a token or an id.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "transport.h"

namespace agegate {

// Latency histogram bucket upper bounds, seconds.
inline constexpr std::array<double, 12> kLatencyBuckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                        0.5,   1.0,  2.5,   5.0,  10.0, 30.0};

class Metrics {
 public:
  void record(const std::string& route, int status);  // one answered request
  void observe(double seconds);                        // one estimate's latency
  void event_recorded(bool ok);                        // a checkout event written, or refused by the database
  void sales(int64_t n);                               // sales written
  void decision(const std::string& outcome);           // id_check, no_check, no_face
  // Every family above, then agegate_in_flight = `in_flight`.
  std::string exposition(int in_flight) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::array<uint64_t, kLatencyBuckets.size()> buckets_{};  // cumulative: each counts every value <= its bound
  uint64_t count_ = 0;
  double sum_ = 0;
  std::map<std::string, uint64_t> decisions_;
  uint64_t events_recorded_ = 0, record_failures_ = 0, sales_recorded_ = 0;
};

// agegate_connections_open and agegate_connections_total{outcome=...}.
std::string connection_exposition(const ConnectionStats& c);

}  // namespace agegate
