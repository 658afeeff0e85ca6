// What to suggest on the checkout screen for an age band or an estimated age,
// from the recommendations.json that `agegate insights` writes. Its own
// component (core only), so the service answers GET /v1/recommendations
// without linking the insights' computation, the reports or the trainer.
//
//   Recommender rec = Recommender::load("recommendations.json");
//   Recommender::Query q;  q.age = 34.2;  q.k = 5;
//   nlohmann::json answer = rec.recommend(q, /*challenge_age=*/25);
//
// Restricted goods (beer, wine, spirits) are never suggested to a band whose
// youngest age is below the challenge age, nor for an age below it.
// Immutable after construction; recommend() is thread-safe.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agegate/core/age_band.h"

namespace agegate {

class Recommender {
 public:
  // `ranked[b]`: band b's over-indexed categories, best first, each an object
  // with at least "category" (string) and "restricted" (bool); `source`
  // says where they came from. InvalidInput when the sizes differ or a band is missing.
  Recommender(std::vector<AgeBand> bands, std::vector<std::vector<nlohmann::json>> ranked, nlohmann::json source);
  // recommendations.json (format agegate-recommendations, version 1). IoError, InvalidInput naming the file.
  static Recommender load(const std::filesystem::path& path);
  nlohmann::json to_json() const;

  struct Query {
    std::optional<double> age;  // an estimate (the band holding it is used)
    std::string band;           // or a band by name
    int k = 5;
  };
  // InvalidInput: neither or both of age and band, an unknown band, an age
  // outside 0-120, k outside 1-50. An age outside every band uses the nearest
  // band and says so. Restricted goods only when the band's youngest age and
  // the age (when given) are at or above `challenge_age`.
  nlohmann::json recommend(const Query& query, int challenge_age) const;
  const std::vector<AgeBand>& bands() const { return bands_; }

 private:
  std::vector<AgeBand> bands_;
  std::vector<std::vector<nlohmann::json>> ranked_;  // per band, best first
  nlohmann::json source_;                            // generated, data counts, options
};

}  // namespace agegate
