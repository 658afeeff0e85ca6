// The learning-rate schedule: linear warmup, then cosine decay to a floor.
//
//   LrSchedule s{/*warmup_epochs=*/1.0, /*total_epochs=*/9};
//   double lr = peak_lr * s.scale(epoch - 1 + step / steps_per_epoch);
//
// scale() takes the progress in epochs (fractional, 0 at the start) and
// returns a multiplier of the peak rate: warmup rises linearly from
// kMinWarmup to 1 over `warmup_epochs`; then 0.5 (1 + cos(pi t)) decays it to
// `floor` at the end of `total_epochs`, and it stays at the floor beyond.
#pragma once

namespace agegate {

struct LrSchedule {
  static constexpr double kMinWarmup = 0.02;  // the first steps still move the weights
  static constexpr double kDefaultFloor = 0.01;
  double warmup_epochs = 1.0;
  int total_epochs = 1;
  double floor = kDefaultFloor;

  double scale(double progress_epochs) const;
};

}  // namespace agegate
