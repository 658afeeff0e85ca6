// Policy: the decision rule at its boundaries, validation and JSON/file loading.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>

#include "agegate/core/error.h"
#include "agegate/policy/policy.h"
#include "test_support.h"

namespace agegate {
namespace {

constexpr int kAges = 101;

AgeDistribution masses(const std::map<int, double>& mass) {
  AgeDistribution d;
  d.probs.assign(kAges, 0.0);
  for (auto [age, p] : mass) d.probs[age] = p;
  return d;
}

// Runs `f`, expects InvalidInput, and returns its message.
template <typename F>
std::string invalid_message(F f) {
  try {
    f();
  } catch (const InvalidInput& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InvalidInput thrown";
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(Policy, DefaultsAndDescription) {
  Policy p;
  EXPECT_NO_THROW(p.validate());
  EXPECT_EQ(p.describe(), "legal age 18, challenge age 25, max risk 1%, interval 90%");
  EXPECT_STREQ(to_string(Decision::kIdCheck), "id_check");
  EXPECT_STREQ(to_string(Decision::kNoCheck), "no_check");
}

TEST(Policy, EstimateExactlyAtChallengeAgePasses) {
  PolicyResult r = decide(masses({{25, 1.0}}), Policy{});
  EXPECT_EQ(r.decision, Decision::kNoCheck);
  EXPECT_EQ(r.reason, "estimate 25.0 >= 25 and P(under 18) = 0.0% <= 1%");
  EXPECT_DOUBLE_EQ(r.estimate, 25.0);
  EXPECT_NEAR(r.low, 25.05, 1e-9);
  EXPECT_NEAR(r.high, 25.95, 1e-9);

  nlohmann::json j = r.to_json();
  EXPECT_EQ(j["decision"], "no_check");
  EXPECT_EQ(j["reason"], r.reason);
  EXPECT_DOUBLE_EQ(j["p_under_legal"].get<double>(), 0.0);

  PolicyResult young = decide(masses({{24, 1.0}}), Policy{});
  EXPECT_EQ(young.decision, Decision::kIdCheck);
  EXPECT_EQ(young.reason, "estimate 24.0 < challenge age 25");
}

TEST(Policy, ReasonNeverPrintsAComparisonThatReadsWrong) {
  // Mean 0.04*24 + 0.96*25 = 24.96: one decimal would print "25.0 < 25".
  PolicyResult r = decide(masses({{24, 0.04}, {25, 0.96}}), Policy{});
  EXPECT_EQ(r.decision, Decision::kIdCheck);
  EXPECT_EQ(r.reason, "estimate 24.96 < challenge age 25");
  // P(under 18) = 1.04%: one decimal would print "1.0% > 1%".
  PolicyResult risky = decide(masses({{17, 0.0104}, {40, 0.9896}}), Policy{});
  EXPECT_EQ(risky.decision, Decision::kIdCheck);
  EXPECT_EQ(risky.reason, "P(under 18) = 1.04% > 1%");
}

TEST(Policy, LegalAge21UsesProbabilityUnder21) {
  // 2% at age 20, 98% at 30: mean 0.4 + 29.4 = 29.8; P(under 21) = 2%, P(under 18) = 0.
  AgeDistribution d = masses({{20, 0.02}, {30, 0.98}});
  Policy us;
  us.legal_age = 21;
  PolicyResult r = decide(d, us);
  EXPECT_EQ(r.decision, Decision::kIdCheck);
  EXPECT_NEAR(r.p_under_legal, 0.02, 1e-12);
  EXPECT_EQ(r.reason, "P(under 21) = 2.0% > 1%");

  PolicyResult uk = decide(d, Policy{});
  EXPECT_EQ(uk.decision, Decision::kNoCheck);
  EXPECT_DOUBLE_EQ(uk.p_under_legal, 0.0);
  EXPECT_EQ(uk.reason, "estimate 29.8 >= 25 and P(under 18) = 0.0% <= 1%");
}

TEST(Policy, MaxRiskZeroAcceptsOnlyCertainty) {
  Policy strict;
  strict.max_risk = 0;
  PolicyResult tiny = decide(masses({{10, 1e-9}, {40, 1.0 - 1e-9}}), strict);
  EXPECT_EQ(tiny.decision, Decision::kIdCheck);
  EXPECT_TRUE(contains(tiny.reason, "> 0%")) << tiny.reason;
  PolicyResult sure = decide(masses({{40, 1.0}}), strict);
  EXPECT_EQ(sure.decision, Decision::kNoCheck);
  EXPECT_EQ(sure.reason, "estimate 40.0 >= 25 and P(under 18) = 0.0% <= 0%");
}

TEST(Policy, BothFailuresAreNamed) {
  PolicyResult r = decide(masses({{15, 1.0}}), Policy{});
  EXPECT_EQ(r.decision, Decision::kIdCheck);
  EXPECT_EQ(r.reason, "estimate 15.0 < challenge age 25; P(under 18) = 100.0% > 1%");
}

TEST(Policy, ChallengeEqualToLegalAgeIsAllowed) {
  Policy p;
  p.challenge_age = 18;
  EXPECT_NO_THROW(p.validate());
  EXPECT_EQ(decide(masses({{20, 1.0}}), p).decision, Decision::kNoCheck);
}

TEST(Policy, BadValuesNameTheField) {
  auto check = [](Policy p, const std::string& field, const std::string& value) {
    std::string msg = invalid_message([&] { p.validate(); });
    EXPECT_TRUE(contains(msg, field)) << msg;
    EXPECT_TRUE(contains(msg, value)) << msg;
  };
  Policy p;
  p.legal_age = -1;
  check(p, "legal_age", "-1");
  p = Policy{};
  p.legal_age = 0;
  check(p, "legal_age", "0");
  p = Policy{};
  p.challenge_age = 16;
  check(p, "challenge_age", "16");
  p = Policy{};
  p.challenge_age = 121;
  check(p, "challenge_age", "121");
  p = Policy{};
  p.max_risk = -0.01;
  check(p, "max_risk", "-0.01");
  p = Policy{};
  p.max_risk = 1.0;
  check(p, "max_risk", "1");
  p = Policy{};
  p.interval_level = 1.5;
  check(p, "interval_level", "1.5");
  p = Policy{};
  p.interval_level = 0;
  check(p, "interval_level", "0");
  // decide() refuses an invalid policy rather than deciding with it.
  p = Policy{};
  p.challenge_age = 10;
  EXPECT_THROW(decide(masses({{30, 1.0}}), p), InvalidInput);
}

TEST(Policy, JsonRoundTripAndPartialObjects) {
  Policy p;
  p.legal_age = 21;
  p.challenge_age = 30;
  p.max_risk = 0.005;
  p.interval_level = 0.8;
  Policy back = Policy::from_json(p.to_json());
  EXPECT_EQ(back.legal_age, 21);
  EXPECT_EQ(back.challenge_age, 30);
  EXPECT_DOUBLE_EQ(back.max_risk, 0.005);
  EXPECT_DOUBLE_EQ(back.interval_level, 0.8);
  EXPECT_EQ(back.describe(), "legal age 21, challenge age 30, max risk 0.5%, interval 80%");

  Policy partial = Policy::from_json(nlohmann::json{{"legal_age", 21}});
  EXPECT_EQ(partial.legal_age, 21);
  EXPECT_EQ(partial.challenge_age, 25);
}

TEST(Policy, BadJsonIsRejected) {
  std::string msg = invalid_message([] { Policy::from_json(nlohmann::json{{"legal_agee", 18}}); });
  EXPECT_TRUE(contains(msg, "legal_agee")) << msg;
  msg = invalid_message([] { Policy::from_json(nlohmann::json{{"legal_age", "18"}}); });
  EXPECT_TRUE(contains(msg, "legal_age")) << msg;
  msg = invalid_message([] { Policy::from_json(nlohmann::json{{"legal_age", 18.5}}); });
  EXPECT_TRUE(contains(msg, "legal_age")) << msg;
  msg = invalid_message([] { Policy::from_json(nlohmann::json{{"max_risk", true}}); });
  EXPECT_TRUE(contains(msg, "max_risk")) << msg;
  msg = invalid_message([] { Policy::from_json(nlohmann::json{{"legal_age", 21}, {"challenge_age", 20}}); });
  EXPECT_TRUE(contains(msg, "challenge_age")) << msg;
  EXPECT_THROW(Policy::from_json(nlohmann::json::array({18, 25})), InvalidInput);
}

TEST(Policy, FilesLoadAndErrorsNameTheFile) {
  auto dir = testing::scratch_dir("policy");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  };
  Policy p = Policy::from_file(write("us.json", R"({"legal_age": 21, "challenge_age": 25, "max_risk": 0.02})"));
  EXPECT_EQ(p.legal_age, 21);
  EXPECT_DOUBLE_EQ(p.max_risk, 0.02);

  auto malformed = write("malformed.json", R"({"legal_age": 21,)");
  std::string msg = invalid_message([&] { Policy::from_file(malformed); });
  EXPECT_TRUE(contains(msg, "malformed.json")) << msg;

  auto unknown = write("unknown.json", R"({"legal_age": 21, "challange_age": 25})");
  msg = invalid_message([&] { Policy::from_file(unknown); });
  EXPECT_TRUE(contains(msg, "unknown.json")) << msg;
  EXPECT_TRUE(contains(msg, "challange_age")) << msg;

  auto empty = write("empty.json", "");
  EXPECT_THROW(Policy::from_file(empty), InvalidInput);

  // Found by fuzz_policy: a number too large for a double escaped as a JSON
  // library exception (the CLI said "internal error").
  auto huge = write("huge.json", R"({"legal_age": 9E999})");
  msg = invalid_message([&] { Policy::from_file(huge); });
  EXPECT_TRUE(contains(msg, "huge.json")) << msg;

  try {
    Policy::from_file(dir / "missing.json");
    FAIL() << "missing file accepted";
  } catch (const IoError& e) {
    EXPECT_TRUE(contains(e.what(), "missing.json")) << e.what();
  }
}

}  // namespace
}  // namespace agegate
