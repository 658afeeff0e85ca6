// From face crops to answers: estimate, interval, decision and their JSON.
// Shared by `agegate predict` and the service so both say the same thing.
#pragma once
#include <nlohmann/json.hpp>

#include <vector>

#include "agegate/eval/estimator.h"
#include "agegate/policy/policy.h"
#include "agegate/vision/align.h"

namespace agegate {

struct FaceEstimate {
  BoxF box;               // in the photo's pixels
  bool detected = false;  // false when the photo itself was the crop
  float score = 0;
  AgeDistribution dist;
  PolicyResult decision;  // estimate, interval at policy.interval_level, reason
};

// One estimate per crop, in the crops' order (largest face first). Thread-safe
// as Estimator::estimate is. No crops -> empty result.
std::vector<FaceEstimate> estimate_faces(std::vector<FaceCrop> crops, const Estimator& estimator,
                                         const Policy& policy);

// {"box":{x,y,width,height},"detected","score","age","interval":{low,high,level},
//  "p_under_legal","decision","reason"}
nlohmann::json to_json(const FaceEstimate& face, const Policy& policy);

}  // namespace agegate
