// The process group under the trainer's data parallelism: torchrun's
// variables read (and a bad one named), two ranks on the loopback summing,
// broadcasting and bucketing gradients, and a store or peer that is not
// there failing within the timeout with one line that names the address.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <thread>

#include "agegate/core/error.h"
#include "agegate/train/distributed.h"
#include "test_support.h"

namespace agegate {
namespace {

// c10d's TCPStore listens on every address: each test that starts one runs in
// a network namespace whose only interface is the loopback.
constexpr const char* kPrivateNetworkWhy =
    "needs root: a network namespace of its own keeps the store off every interface but the loopback";

// Sets environment variables for one test and puts the old values back.
class ScopedEnv {
 public:
  explicit ScopedEnv(const std::map<std::string, std::optional<std::string>>& vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
      set(name, value);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) set(name, value);
  }

 private:
  static void set(const std::string& name, const std::optional<std::string>& value) {
    if (value) ::setenv(name.c_str(), value->c_str(), 1);
    else ::unsetenv(name.c_str());
  }
  std::map<std::string, std::optional<std::string>> saved_;
};

const std::map<std::string, std::optional<std::string>> kNoTorchrun = {
    {"WORLD_SIZE", std::nullopt}, {"RANK", std::nullopt}, {"LOCAL_RANK", std::nullopt},
    {"MASTER_ADDR", std::nullopt}, {"MASTER_PORT", std::nullopt}, {"TORCHELASTIC_RESTART_COUNT", std::nullopt},
    {"TORCHELASTIC_USE_AGENT_STORE", std::nullopt}, {"GLOO_SOCKET_IFNAME", std::nullopt}};

TEST(DistributedEnv, WithoutTheVariablesAProcessIsAWorldOfOne) {
  ScopedEnv env(kNoTorchrun);
  const DistributedEnv e = DistributedEnv::from_environment();
  EXPECT_FALSE(e.active());
  EXPECT_TRUE(e.writer());
  EXPECT_EQ(e.world_size, 1);
}

TEST(DistributedEnv, ReadsTorchrunsVariables) {
  auto vars = kNoTorchrun;
  vars["WORLD_SIZE"] = "4";
  vars["RANK"] = "3";
  vars["LOCAL_RANK"] = "1";
  vars["MASTER_ADDR"] = "10.0.0.7";
  vars["MASTER_PORT"] = "29400";
  vars["TORCHELASTIC_RESTART_COUNT"] = "2";
  vars["TORCHELASTIC_USE_AGENT_STORE"] = "True";
  ScopedEnv env(vars);
  const DistributedEnv e = DistributedEnv::from_environment();
  EXPECT_TRUE(e.active());
  EXPECT_FALSE(e.writer());
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.master_addr, "10.0.0.7");
  EXPECT_EQ(e.master_port, 29400);
  EXPECT_EQ(e.restart_count, 2);
  EXPECT_TRUE(e.agent_store);
  EXPECT_EQ(e.describe(), "rank 3 of 4 (store 10.0.0.7:29400, torchrun's agent)");
}

TEST(DistributedEnv, ABadVariableIsNamed) {
  auto expect_named = [](std::map<std::string, std::optional<std::string>> vars, const std::string& name) {
    auto all = kNoTorchrun;
    for (auto& [k, v] : vars) all[k] = v;
    ScopedEnv env(all);
    try {
      DistributedEnv::from_environment();
      ADD_FAILURE() << "accepted; expected an error naming " << name;
    } catch (const InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  };
  expect_named({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}}, "RANK");
  expect_named({{"WORLD_SIZE", "two"}}, "WORLD_SIZE");
  expect_named({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_PORT", "29500"}}, "MASTER_ADDR");
  expect_named({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "127.0.0.1"}}, "MASTER_PORT");
  expect_named({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "70000"}},
               "MASTER_PORT");
}

DistributedEnv rank_env(int rank, int world, int port) {
  DistributedEnv e;
  e.rank = rank;
  e.world_size = world;
  e.master_addr = "127.0.0.1";
  e.master_port = port;
  return e;
}

// Runs body(rank, group) on `world` threads, each a rank connected over 127.0.0.1.
void on_ranks(int world, const std::function<void(int, Distributed&)>& body) {
  const int port = testing::free_loopback_port();
  std::vector<std::thread> threads;
  std::vector<std::string> errors(world);
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        auto group = Distributed::connect(rank_env(r, world, port), c10::kCPU, std::chrono::seconds(30));
        body(r, *group);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
}

TEST(Distributed, TwoRanksOnTheLoopbackSumAndBroadcast) {
  AGEGATE_REQUIRE(testing::enter_private_network(), kPrivateNetworkWhy);

  std::vector<std::vector<double>> sums(2);
  std::vector<std::string> received(2);
  std::vector<at::Tensor> big(2);
  on_ranks(2, [&](int r, Distributed& g) {
    EXPECT_EQ(g.backend(), "gloo");
    sums[r] = g.all_reduce_sum({1.0 + r, 10.0, -0.5 * r});
    std::string bytes = r == 0 ? std::string("rank 0's \0bytes", 15) : std::string("stale");
    g.broadcast_bytes(bytes);
    received[r] = bytes;
    big[r] = at::full({1000, 3}, static_cast<float>(r + 1));
    g.all_reduce_sum(big[r]);
    g.barrier();
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(sums[r], (std::vector<double>{3.0, 20.0, -0.5})) << "rank " << r;
    EXPECT_EQ(received[r], std::string("rank 0's \0bytes", 15)) << "rank " << r;
    EXPECT_TRUE(at::equal(big[r], at::full({1000, 3}, 3.0f))) << "rank " << r;
  }
}

// Parameters of 100, 300, 50 and 30 floats in buckets of 1,450 bytes: the
// second does not fit beside the first (1,600 bytes), the third joins the
// second (1,400), the fourth does not (1,520): buckets [100] [300, 50] [30].
// Each rank's gradients become the sum of both ranks'; a parameter with no
// gradient on either rank gets a zero one.
TEST(Distributed, GradientsAreSummedInBucketsOfConsecutiveParameters) {
  AGEGATE_REQUIRE(testing::enter_private_network(), kPrivateNetworkWhy);

  std::vector<std::vector<at::Tensor>> grads(2);
  std::vector<size_t> buckets(2);
  on_ranks(2, [&](int r, Distributed& g) {
    std::vector<at::Tensor> params = {at::zeros({10, 10}), at::zeros({3, 100}), at::zeros({50}), at::zeros({30})};
    for (size_t i = 0; i < 3; ++i) {
      params[i].mutable_grad() = at::arange(params[i].numel(), at::kFloat).view(params[i].sizes()) * float(r + 1) +
                                 float(i);
    }
    GradientReducer reducer(params, &g, 1450);
    buckets[r] = reducer.buckets();
    reducer.sum_gradients();
    for (auto& p : params) grads[r].push_back(p.grad());
    EXPECT_EQ(reducer.calls(), 1);
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(buckets[r], 3u);
    ASSERT_EQ(grads[r].size(), 4u);
    for (size_t i = 0; i < 3; ++i) {
      const at::Tensor expect = at::arange(grads[r][i].numel(), at::kFloat).view(grads[r][i].sizes()) * 3.0f + 2.0f * float(i);
      EXPECT_TRUE(at::equal(grads[r][i], expect)) << "rank " << r << " parameter " << i;
    }
    ASSERT_TRUE(grads[r][3].defined());
    EXPECT_TRUE(at::equal(grads[r][3], at::zeros({30})));
  }
}

TEST(Distributed, AWorldOfOneConnectsToNothingAndChangesNothing) {
  DistributedEnv alone;
  auto g = Distributed::connect(alone, c10::kCPU, std::chrono::seconds(1));
  EXPECT_EQ(g->all_reduce_sum({2.5}), (std::vector<double>{2.5}));
  at::Tensor p = at::zeros({3});
  p.mutable_grad() = at::ones({3});
  GradientReducer reducer({p}, g.get());
  EXPECT_EQ(reducer.buckets(), 0u);
  reducer.sum_gradients();
  EXPECT_TRUE(at::equal(p.grad(), at::ones({3})));
}

// What a rank says when it is alone: within the timeout (plus start-up), one
// line naming the store's address, and an IoError rather than a hang.
void expect_fails_naming(const DistributedEnv& env, const std::string& what) {
  const auto start = std::chrono::steady_clock::now();
  try {
    Distributed::connect(env, c10::kCPU, std::chrono::seconds(2));
    ADD_FAILURE() << "connected with nobody there";
  } catch (const IoError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(env.master_port)), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 15.0);
}

TEST(Distributed, AStoreNobodyServesFailsWithinTheTimeoutNamingIt) {
  AGEGATE_REQUIRE(testing::enter_private_network(), kPrivateNetworkWhy);

  expect_fails_naming(rank_env(1, 2, testing::free_loopback_port()), "cannot reach the store");
}

TEST(Distributed, APeerThatNeverComesFailsWithinTheTimeoutNamingTheStore) {
  AGEGATE_REQUIRE(testing::enter_private_network(), kPrivateNetworkWhy);

  expect_fails_naming(rank_env(0, 2, testing::free_loopback_port()), "could not connect to its 1 peer(s)");
}

}  // namespace
}  // namespace agegate
