// Bounded running and waiting estimations (see admission.h).
#include "admission.h"

#include <thread>

namespace agegate {

Admission::Admission(int running, int queued) : max_running_(running), max_admitted_(running + queued) {}

Admission::Ticket::Ticket(Admission& admission) : a_(admission), outcome_(Outcome::kAdmitted) {
  if (a_.admitted_.fetch_add(1) >= a_.max_admitted_) {
    outcome_ = Outcome::kOverloaded;
  } else if (a_.stopping_.load()) {
    outcome_ = Outcome::kStopping;
  }
  if (outcome_ != Outcome::kAdmitted) a_.admitted_.fetch_sub(1);
}

Admission::Ticket::~Ticket() {
  if (outcome_ != Outcome::kAdmitted) return;
  free_slot();
  a_.admitted_.fetch_sub(1);
}

bool Admission::Ticket::wait_for_slot(Clock::time_point deadline) {
  if (outcome_ != Outcome::kAdmitted || holds_slot_) return holds_slot_;
  std::unique_lock<std::mutex> lock(a_.mu_);
  if (!a_.slot_cv_.wait_until(lock, deadline, [&] { return a_.running_ < a_.max_running_; })) return false;
  a_.running_++;
  holds_slot_ = true;
  return true;
}

void Admission::Ticket::free_slot() {
  if (!holds_slot_) return;
  {
    std::lock_guard<std::mutex> lock(a_.mu_);
    a_.running_--;
  }
  a_.slot_cv_.notify_one();
  holds_slot_ = false;
}

int Admission::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_;
}

int Admission::drain(Clock::time_point deadline) const {
  while (admitted_.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return admitted_.load();
}

}  // namespace agegate
