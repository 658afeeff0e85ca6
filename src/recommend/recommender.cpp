// Suggestions for a band or an age from recommendations.json (see recommender.h).
#include "agegate/recommend/recommender.h"

#include <cmath>
#include <limits>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"

namespace agegate {
using json = nlohmann::json;

Recommender::Recommender(std::vector<AgeBand> bands, std::vector<std::vector<json>> ranked, json source)
    : bands_(std::move(bands)), ranked_(std::move(ranked)), source_(std::move(source)) {
  if (bands_.size() != ranked_.size()) {
    throw InvalidInput("recommender: " + std::to_string(bands_.size()) + " bands but " +
                       std::to_string(ranked_.size()) + " rankings");
  }
}

json Recommender::to_json() const {
  json bands = json::array();
  for (size_t b = 0; b < bands_.size(); ++b) {
    bands.push_back({{"band", bands_[b].name}, {"low", bands_[b].low}, {"high", bands_[b].high}, {"ranked", ranked_[b]}});
  }
  return {{"format", "agegate-recommendations"}, {"version", 1}, {"source", source_}, {"bands", bands}};
}

Recommender Recommender::load(const std::filesystem::path& path) {
  constexpr uint64_t kMaxBytes = uint64_t(64) << 20;
  const std::string text = read_file(path, kMaxBytes);  // IoError naming the file
  const std::string where = "recommendations " + path.string();
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw InvalidInput(where + ": not JSON: " + e.what());
  }
  if (j.value("format", "") != "agegate-recommendations" || j.value("version", 0) != 1) {
    throw InvalidInput(where + ": not an agegate recommendations file (format agegate-recommendations, version 1)");
  }
  std::vector<AgeBand> bands;
  std::vector<std::vector<json>> ranked;
  json source;
  try {
    source = j.at("source");
    for (const json& b : j.at("bands")) {
      bands.push_back(parse_age_band(b.at("band").get<std::string>(), where));
      std::vector<json> items;
      for (const json& x : b.at("ranked")) {
        x.at("category").get<std::string>();
        x.at("restricted").get<bool>();
        items.push_back(x);
      }
      ranked.push_back(std::move(items));
    }
  } catch (const json::exception& e) {
    throw InvalidInput(where + ": " + e.what());
  }
  if (bands.empty()) throw InvalidInput(where + ": no bands");
  return Recommender(std::move(bands), std::move(ranked), std::move(source));
}

json Recommender::recommend(const Query& q, int challenge_age) const {
  constexpr int kMaxK = 50;
  if (q.age.has_value() == !q.band.empty()) throw InvalidInput("recommend: give either an age or a band");
  if (q.k < 1 || q.k > kMaxK) throw InvalidInput("recommend: k must be 1-" + std::to_string(kMaxK));
  int b = -1;
  std::string note;
  if (q.age) {
    const double age = *q.age;
    if (!std::isfinite(age) || age < kMinAge || age > kMaxAge) {
      throw InvalidInput("recommend: age must be a number from " + std::to_string(kMinAge) + " to " +
                         std::to_string(kMaxAge));
    }
    const int years = static_cast<int>(std::floor(age));
    b = find_band(bands_, years);
    if (b < 0) {
      int best = std::numeric_limits<int>::max();
      for (size_t i = 0; i < bands_.size(); ++i) {
        const int d = years < bands_[i].low ? bands_[i].low - years : years - bands_[i].high;
        if (d < best) best = d, b = static_cast<int>(i);
      }
      note = "age " + std::to_string(years) + " is in no band of the data; the nearest band " + bands_[b].name +
             " is used";
    }
  } else {
    for (size_t i = 0; i < bands_.size(); ++i) {
      if (bands_[i].name == q.band) b = static_cast<int>(i);
    }
    if (b < 0) {
      std::string names;
      for (const auto& x : bands_) names += (names.empty() ? "" : ", ") + x.name;
      throw InvalidInput("recommend: unknown band '" + q.band + "' (bands: " + names + ")");
    }
  }
  const AgeBand& band = bands_[b];
  const bool allowed = band.low >= challenge_age && (!q.age || *q.age >= challenge_age);
  json items = json::array();
  for (const json& x : ranked_[b]) {
    if (static_cast<int>(items.size()) >= q.k) break;
    if (x.at("restricted").get<bool>() && !allowed) continue;
    items.push_back(x);
  }
  json out = {{"band", band.name},
              {"restricted_allowed", allowed},
              {"challenge_age", challenge_age},
              {"k", q.k},
              {"items", items}};
  if (q.age) out["age"] = *q.age;
  json notes = json::array();
  if (!note.empty()) notes.push_back(note);
  if (static_cast<int>(items.size()) < q.k) {
    notes.push_back("only " + std::to_string(items.size()) + " categories are over-indexed for " + band.name +
                    " with enough support" + (allowed ? "" : " (restricted goods left out)"));
  }
  out["notes"] = notes;
  return out;
}

}  // namespace agegate
