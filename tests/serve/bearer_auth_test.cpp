// Bearer authentication as one part: off without tokens, the right token
// in, a wrong or missing one out (and counted), a blocked address refused
// before its token is looked at, and a reload that swaps the set whole.
#include "bearer_auth.h"

#include <gtest/gtest.h>

#include <vector>

namespace agegate {
namespace {

using Verdict = BearerAuth::Verdict;
const std::string kGood = "till-token-0123456789abcdef", kNext = "till-token-fedcba9876543210";

std::shared_ptr<const TokenSet> tokens(std::initializer_list<std::string> list) {
  auto set = std::make_shared<TokenSet>();
  for (const auto& t : list) set->add(t, "test");
  return set;
}

TEST(BearerAuth, WithoutTokensEveryRequestIsAllowed) {
  BearerAuth auth(ThrottleOptions{});
  EXPECT_EQ(auth.check("", "10.0.0.1").kind, Verdict::kAllowed);
  EXPECT_EQ(auth.check("Bearer nonsense", "10.0.0.1").kind, Verdict::kAllowed);
  EXPECT_TRUE(auth.tokens()->empty());
}

TEST(BearerAuth, OnlyTheRightTokenInTheBearerSchemeGetsIn) {
  BearerAuth auth(ThrottleOptions{100, 60, 60});
  auth.replace(tokens({kGood}));
  EXPECT_EQ(auth.check("Bearer " + kGood, "10.0.0.1").kind, Verdict::kAllowed);
  const std::vector<std::string> wrong = {"", "Bearer", "Bearer ", "bearer " + kGood, "Basic " + kGood, kGood,
                                         "Bearer " + kGood + "x", "Bearer " + kGood.substr(1)};
  for (const std::string& h : wrong) {
    EXPECT_EQ(auth.check(h, "10.0.0.1").kind, Verdict::kUnauthorized) << "'" << h << "'";
  }
}

TEST(BearerAuth, ABlockedAddressIsRefusedEvenWithTheRightTokenUntilTheBlockEnds) {
  BearerAuth auth(ThrottleOptions{3, 60, 30});
  auth.replace(tokens({kGood}));
  const auto t0 = AuthThrottle::Clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(auth.check("Bearer wrong-token-000000000", "10.0.0.9", t0).kind, Verdict::kUnauthorized);
  const Verdict blocked = auth.check("Bearer " + kGood, "10.0.0.9", t0);
  EXPECT_EQ(blocked.kind, Verdict::kThrottled);
  EXPECT_GT(blocked.retry_after_s, 0);
  EXPECT_LE(blocked.retry_after_s, 30);
  // Another address is not affected.
  EXPECT_EQ(auth.check("Bearer " + kGood, "10.0.0.10", t0).kind, Verdict::kAllowed);
  // After the block, the right token gets in and clears the address.
  const auto later = t0 + std::chrono::seconds(31);
  EXPECT_EQ(auth.check("Bearer " + kGood, "10.0.0.9", later).kind, Verdict::kAllowed);
  EXPECT_EQ(auth.check("Bearer wrong-token-000000000", "10.0.0.9", later).kind, Verdict::kUnauthorized);
}

TEST(BearerAuth, AReloadSwapsTheSetWholeAndAHolderKeepsItsOwn) {
  BearerAuth auth(ThrottleOptions{100, 60, 60});
  auth.replace(tokens({kGood}));
  const auto held = auth.tokens();
  auth.replace(tokens({kGood, kNext}));  // rolling in the next token
  EXPECT_EQ(auth.check("Bearer " + kNext, "10.0.0.1").kind, Verdict::kAllowed);
  auth.replace(tokens({kNext}));         // the old one rolled out
  EXPECT_EQ(auth.check("Bearer " + kGood, "10.0.0.1").kind, Verdict::kUnauthorized);
  EXPECT_TRUE(held->matches(kGood));     // a check in progress finishes on the set it took
  auth.replace(nullptr);                 // no tokens: authentication off
  EXPECT_EQ(auth.check("", "10.0.0.1").kind, Verdict::kAllowed);
}

}  // namespace
}  // namespace agegate
