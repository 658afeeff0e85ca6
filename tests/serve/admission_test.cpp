// The service's admission control on its own (src/serve/admission.h): the
// bounds, the slot wait and its deadline, stopping and draining.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "admission.h"

namespace agegate {
namespace {
using Clock = Admission::Clock;
using Outcome = Admission::Outcome;

Clock::time_point in_ms(int ms) { return Clock::now() + std::chrono::milliseconds(ms); }

TEST(Admission, RunningPlusQueuedIsTheBoundAndBeyondIsRefusedAtOnce) {
  Admission a(1, 1);
  Admission::Ticket first(a), second(a), third(a);
  EXPECT_EQ(first.outcome(), Outcome::kAdmitted);
  EXPECT_EQ(second.outcome(), Outcome::kAdmitted);
  EXPECT_EQ(third.outcome(), Outcome::kOverloaded);
  EXPECT_EQ(a.in_flight(), 2);  // a refused ticket holds nothing
  ASSERT_TRUE(first.wait_for_slot(in_ms(1000)));
  EXPECT_EQ(a.running(), 1);
  // The second waits for the only slot and times out while the first holds it.
  const auto t0 = Clock::now();
  EXPECT_FALSE(second.wait_for_slot(in_ms(50)));
  EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(45));
  // Freed, it is the second's; the first still counts in flight (recording).
  first.free_slot();
  first.free_slot();  // idempotent
  EXPECT_TRUE(second.wait_for_slot(in_ms(1000)));
  EXPECT_EQ(a.running(), 1);
  EXPECT_EQ(a.in_flight(), 2);
}

TEST(Admission, ATicketGoneFreesItsSlotAndItsPlace) {
  Admission a(1, 0);
  {
    Admission::Ticket t(a);
    ASSERT_TRUE(t.wait_for_slot(in_ms(1000)));
    Admission::Ticket refused(a);
    EXPECT_EQ(refused.outcome(), Outcome::kOverloaded);
  }
  EXPECT_EQ(a.in_flight(), 0);
  EXPECT_EQ(a.running(), 0);
  Admission::Ticket again(a);
  EXPECT_EQ(again.outcome(), Outcome::kAdmitted);
}

TEST(Admission, StoppingRefusesNewWorkAndDrainWaitsForTheAdmitted) {
  Admission a(2, 2);
  auto held = std::make_unique<Admission::Ticket>(a);
  ASSERT_TRUE(held->wait_for_slot(in_ms(1000)));
  a.begin_stop();
  EXPECT_TRUE(a.stopping());
  Admission::Ticket late(a);
  EXPECT_EQ(late.outcome(), Outcome::kStopping);
  // Still held: the drain gives up at its deadline and says how many are left.
  EXPECT_EQ(a.drain(in_ms(30)), 1);
  std::thread finish([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    held.reset();
  });
  EXPECT_EQ(a.drain(in_ms(5000)), 0);
  finish.join();
}

// Many threads at once: never more than `running` inside, never more than
// running + queued admitted, and everyone admitted gets a slot in the end.
TEST(Admission, UnderContentionTheBoundsHold) {
  constexpr int kRunning = 2, kQueued = 3, kThreads = 16, kRounds = 200;
  Admission a(kRunning, kQueued);
  std::atomic<int> inside{0}, max_inside{0}, holders{0}, max_admitted{0}, served{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int r = 0; r < kRounds; ++r) {
        Admission::Ticket ticket(a);
        if (ticket.outcome() != Outcome::kAdmitted) {
          refused++;
          continue;
        }
        // Counted here, not by in_flight(): a refused ticket raises that count for a moment.
        const int seen = ++holders;
        for (int m = max_admitted.load(); seen > m && !max_admitted.compare_exchange_weak(m, seen);) {
        }
        ASSERT_TRUE(ticket.wait_for_slot(in_ms(10000)));
        const int now = ++inside;
        for (int m = max_inside.load(); now > m && !max_inside.compare_exchange_weak(m, now);) {
        }
        std::this_thread::yield();
        --inside;
        ticket.free_slot();
        served++;
        --holders;  // before the ticket goes: never counted after its place is free
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(max_inside.load(), kRunning);
  EXPECT_EQ(max_inside.load(), kRunning) << "the slots were never all used: the test saw no contention";
  EXPECT_LE(max_admitted.load(), kRunning + kQueued);
  EXPECT_EQ(served + refused, kThreads * kRounds);
  EXPECT_GT(refused.load(), 0);
  EXPECT_EQ(a.in_flight(), 0);
  EXPECT_EQ(a.running(), 0);
}

}  // namespace
}  // namespace agegate
