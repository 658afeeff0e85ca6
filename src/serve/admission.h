// Admission control for the service's estimations (private to serve/):
// at most `running` estimations run at once and at most `running + queued`
// are admitted (running or waiting); anything beyond is refused at once,
// so an overloaded till server answers 503 + Retry-After instead of
// queueing without bound. begin_stop() refuses new work while drain()
// waits for the admitted to finish.
//
//   Admission a(/*running=*/2, /*queued=*/8);
//   Admission::Ticket t(a);                     // in flight while it lives
//   if (t.outcome() != Admission::Outcome::kAdmitted) return refuse(...);
//   if (!t.wait_for_slot(deadline)) return timeout(...);
//   estimate();  t.free_slot();                 // the next may start
//   record();                                   // still in flight: stop() waits for it
//
// Thread-safe. The count is raised before `stopping` is read, so a
// concurrent stop either sees a request in flight and waits for it, or the
// request sees the stop and is refused.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace agegate {

class Admission {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Outcome { kAdmitted, kOverloaded, kStopping };

  Admission(int running, int queued);

  // One request's place. Refused tickets hold nothing.
  class Ticket {
   public:
    explicit Ticket(Admission& admission);
    ~Ticket();  // frees the slot and leaves the in-flight count
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

    Outcome outcome() const { return outcome_; }
    // Waits for one of the running slots until `deadline`; false when it passed.
    bool wait_for_slot(Clock::time_point deadline);
    void free_slot();  // idempotent

   private:
    Admission& a_;
    Outcome outcome_;
    bool holds_slot_ = false;
  };

  void begin_stop() { stopping_ = true; }
  bool stopping() const { return stopping_.load(); }
  int in_flight() const { return admitted_.load(); }  // running + waiting
  int running() const;
  // Waits until nothing is in flight or `deadline` passes; returns how many are left.
  int drain(Clock::time_point deadline) const;

 private:
  const int max_running_;
  const int max_admitted_;
  std::atomic<int> admitted_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::condition_variable slot_cv_;
  int running_ = 0;
};

}  // namespace agegate
