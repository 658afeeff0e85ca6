// Prometheus exposition of the service's counters (see metrics.h).
#include "metrics.h"

#include <sstream>

namespace agegate {

void Metrics::record(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  requests_[{route, status}]++;
}

void Metrics::observe(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) buckets_[i]++;
  }
  count_++;
  sum_ += seconds;
}

void Metrics::event_recorded(bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  (ok ? events_recorded_ : record_failures_)++;
}

void Metrics::sales(int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  sales_recorded_ += static_cast<uint64_t>(n);
}

void Metrics::decision(const std::string& outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  decisions_[outcome]++;
}

std::string Metrics::exposition(int in_flight) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream o;
  o << "# HELP agegate_requests_total HTTP requests by route and status.\n"
    << "# TYPE agegate_requests_total counter\n";
  for (const auto& [k, v] : requests_) {
    o << "agegate_requests_total{route=\"" << k.first << "\",status=\"" << k.second << "\"} " << v << "\n";
  }
  o << "# HELP agegate_request_duration_seconds Latency of /v1/estimate.\n"
    << "# TYPE agegate_request_duration_seconds histogram\n";
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    o << "agegate_request_duration_seconds_bucket{le=\"" << kLatencyBuckets[i] << "\"} " << buckets_[i] << "\n";
  }
  o << "agegate_request_duration_seconds_bucket{le=\"+Inf\"} " << count_ << "\n"
    << "agegate_request_duration_seconds_sum " << sum_ << "\n"
    << "agegate_request_duration_seconds_count " << count_ << "\n"
    << "# HELP agegate_decisions_total Decisions by outcome (no_face when none was found).\n"
    << "# TYPE agegate_decisions_total counter\n";
  for (const auto& [k, v] : decisions_) o << "agegate_decisions_total{outcome=\"" << k << "\"} " << v << "\n";
  o << "# HELP agegate_events_recorded_total Checkout events written to the database.\n"
    << "# TYPE agegate_events_recorded_total counter\nagegate_events_recorded_total " << events_recorded_ << "\n"
    << "# HELP agegate_event_record_failures_total Checkout events the database refused.\n"
    << "# TYPE agegate_event_record_failures_total counter\nagegate_event_record_failures_total "
    << record_failures_ << "\n"
    << "# HELP agegate_sales_recorded_total Sales written to the database.\n"
    << "# TYPE agegate_sales_recorded_total counter\nagegate_sales_recorded_total " << sales_recorded_ << "\n";
  o << "# HELP agegate_in_flight Estimations admitted (running or queued).\n"
    << "# TYPE agegate_in_flight gauge\nagegate_in_flight " << in_flight << "\n";
  return o.str();
}

std::string connection_exposition(const ConnectionStats& c) {
  std::ostringstream o;
  o << "# HELP agegate_connections_open Connections open now (both ports).\n"
    << "# TYPE agegate_connections_open gauge\nagegate_connections_open " << c.open.load() << "\n"
    << "# HELP agegate_connections_total Connections by outcome: accepted, rejected (over --max-connections), "
       "deadline (a request not whole within --read-deadline-ms), tls_failed (handshake).\n"
    << "# TYPE agegate_connections_total counter\n"
    << "agegate_connections_total{outcome=\"accepted\"} " << c.accepted.load() << "\n"
    << "agegate_connections_total{outcome=\"rejected\"} " << c.rejected.load() << "\n"
    << "agegate_connections_total{outcome=\"deadline\"} " << c.deadline_cut.load() << "\n"
    << "agegate_connections_total{outcome=\"tls_failed\"} " << c.tls_failed.load() << "\n";
  return o.str();
}

}  // namespace agegate
