// A share "hits of n" with its Wilson 95% interval, and its JSON form: the
// one way the audit and the insights report a rate. Plain value; thread-safe.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>

namespace agegate {

// A number, or null when it is NaN or infinite (JSON has no NaN).
nlohmann::json number_or_null(double v);

// hits of n, with the Wilson 95% interval (NaN when n == 0).
struct Share {
  int64_t hits = 0;
  int64_t n = 0;
  double rate() const;
  double low() const;
  double high() const;
  nlohmann::json to_json() const;  // {"hits","n","rate","ci95":[lo,hi]}
};

}  // namespace agegate
