#include "agegate/vision/face_estimate.h"

namespace agegate {

std::vector<FaceEstimate> estimate_faces(std::vector<FaceCrop> crops, const Estimator& estimator,
                                         const Policy& policy) {
  std::vector<FaceEstimate> out;
  if (crops.empty()) return out;
  std::vector<Image> images;
  images.reserve(crops.size());
  for (auto& c : crops) images.push_back(std::move(c.image));
  std::vector<AgeDistribution> dists = estimator.estimate(images);
  out.reserve(crops.size());
  for (size_t i = 0; i < crops.size(); ++i) {
    FaceEstimate f;
    f.box = crops[i].box;
    f.detected = crops[i].detected;
    f.score = crops[i].score;
    f.dist = std::move(dists[i]);
    f.decision = decide(f.dist, policy);
    out.push_back(std::move(f));
  }
  return out;
}

nlohmann::json to_json(const FaceEstimate& f, const Policy& policy) {
  const PolicyResult& r = f.decision;
  return {{"box", {{"x", f.box.x}, {"y", f.box.y}, {"width", f.box.width}, {"height", f.box.height}}},
          {"detected", f.detected},
          {"score", f.score},
          {"age", r.estimate},
          {"interval", {{"low", r.low}, {"high", r.high}, {"level", policy.interval_level}}},
          {"p_under_legal", r.p_under_legal},
          {"decision", to_string(r.decision)},
          {"reason", r.reason}};
}

}  // namespace agegate
