// Warmup + cosine learning-rate schedule (see schedule.h).
#include "agegate/train/schedule.h"

#include <algorithm>
#include <cmath>

#include "agegate/core/numeric.h"

namespace agegate {

double LrSchedule::scale(double progress_epochs) const {
  if (progress_epochs < warmup_epochs) return std::max(kMinWarmup, progress_epochs / warmup_epochs);
  const double t = (progress_epochs - warmup_epochs) / std::max(1e-9, double(total_epochs) - warmup_epochs);
  return floor + (1 - floor) * 0.5 * (1 + std::cos(kPi * std::min(1.0, t)));
}

}  // namespace agegate
