// `agegate train` as ranks of a data-parallel job on 127.0.0.1 (nothing
// listens beyond the loopback): two ranks with half the batch each train the
// weights one process trains with the whole batch; a job with augmentation,
// dropout and group weights on trains end to end through torchrun (by hand
// when torchrun is not installed); ranks stop together and a restarted job
// resumes; a rank alone fails within the timeout in one line; and the folds
// of a cross-fit trained as separate jobs are gathered by one command.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "agegate/core/fs.h"
#include "agegate/model/model_file.h"
#include "agegate/train/checkpoint.h"
#include "test_support.h"

namespace agegate {
namespace {

// c10d's TCPStore listens on every address: each test that starts one runs in
// a network namespace whose only interface is the loopback.
constexpr const char* kPrivateNetworkWhy =
    "needs root: a network namespace of its own keeps the store off every interface but the loopback";
namespace fs = std::filesystem;
using testing::AgegateProcess;
using testing::run_agegate;

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::vector<std::string> rank_env(int rank, int world, int port) {
  return {"WORLD_SIZE=" + std::to_string(world), "RANK=" + std::to_string(rank), "LOCAL_RANK=" + std::to_string(rank),
          "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port), "OMP_NUM_THREADS=1"};
}

// Starts `world` ranks of `agegate <args>` by hand (torchrun's variables) and
// waits for them; returns their exit codes, stderr kept in `errs`.
std::vector<int> run_ranks(int world, const std::string& args, std::vector<std::string>* errs = nullptr,
                           const std::vector<std::string>& extra_env = {}) {
  const int port = testing::free_loopback_port();
  std::vector<std::unique_ptr<AgegateProcess>> ranks;
  for (int r = 0; r < world; ++r) {
    std::vector<std::string> env = rank_env(r, world, port);
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    ranks.push_back(std::make_unique<AgegateProcess>(words(args), fs::current_path(), env));
  }
  std::vector<int> codes;
  for (auto& p : ranks) {
    codes.push_back(p->wait(600));
    if (errs) errs->push_back(p->err());
  }
  return codes;
}

// How far two models' weights are apart: the largest |a - b|, and the L2
// norm of the difference over the L2 norm of the first model's weights.
struct WeightDifference {
  double max_abs = 0;
  double relative_l2 = 0;
};
WeightDifference weight_difference(const fs::path& a, const fs::path& b) {
  LoadedModel ma = load_model_file(a), mb = load_model_file(b);
  const auto pa = ma.net->named_parameters(), pb = mb.net->named_parameters();
  EXPECT_EQ(pa.size(), pb.size());
  WeightDifference d;
  double diff2 = 0, norm2 = 0;
  for (const auto& item : pa) {
    const at::Tensor delta = (item.value() - pb[item.key()]).to(at::kDouble);
    d.max_abs = std::max(d.max_abs, delta.abs().max().item<double>());
    diff2 += delta.pow(2).sum().item<double>();
    norm2 += item.value().to(at::kDouble).pow(2).sum().item<double>();
  }
  d.relative_l2 = std::sqrt(diff2 / norm2);
  std::printf("weights %s vs %s: max |diff| %.3g, relative L2 %.3g\n", a.parent_path().filename().c_str(),
              b.parent_path().filename().c_str(), d.max_abs, d.relative_l2);
  return d;
}

// Augmentation and dropout off, so the only randomness is the shuffle, which
// every rank draws alike; 28 training photos in batches of 8: 3 steps. The
// photos carry group-balancing loss weights, so the ranks' shares of a batch
// weigh differently and each rank's loss must be scaled by its share of the
// batch's total weight (Adam would forgive a wrong scale common to all ranks,
// not one that differs between them).
std::string deterministic_args(const fs::path& data, const fs::path& out, int batch) {
  return "-q train --data " + data.string() + " --out " + out.string() +
         " --backbone mobilenet_v2 --input-size 64 --epochs 1 --batch-size " + std::to_string(batch) +
         " --augment-strength 0 --no-flip --dropout 0 --threads 1 --workers 1 --no-report --balance-groups sex "
         "--seed 3";
}

// The stated tolerance: the L2 norm of the weights' difference is at most
// 2e-4 of the weights' own norm after three AdamW steps. The two runs sum
// the same gradients in another order, so they differ by float rounding,
// which Adam magnifies for weights whose gradients are near zero (their
// step is about lr times the gradient's sign). Measured here: 4.4e-8 with
// these weighted photos; 3.4e-5 without the weights, where the same single
// run with 2 threads instead of 1 differs from itself as much (validation
// MAE 22.70 with 1 thread, 22.67 with 2, 22.67 on two ranks). Half the batch
// in one process, which is what a rank would train without the exchange,
// misses by 1.9e-3; the ranks without their loss scaled by their share of
// the batch's weight by 5.9e-4, and without the gradient sum by 1.1e-3.
constexpr double kTolerance = 2e-4;

TEST(DistributedTraining, TwoRanksWithHalfTheBatchTrainTheWeightsOfOneProcessWithTheWholeBatch) {
  AGEGATE_REQUIRE(testing::enter_private_network(), kPrivateNetworkWhy);

  const fs::path data = testing::make_mini_dataset("dist-equal", 40);
  const fs::path scratch = testing::scratch_dir("dist-equal-runs");
  auto one = run_agegate(deterministic_args(data, scratch / "one", 8), "OMP_NUM_THREADS=1 ");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  std::vector<std::string> errs;
  const auto codes = run_ranks(2, deterministic_args(data, scratch / "two", 8), &errs);
  ASSERT_EQ(codes, (std::vector<int>{0, 0})) << errs[0] << "\n---\n" << errs[1];
  const WeightDifference two = weight_difference(scratch / "one" / "model.agm", scratch / "two" / "model.agm");
  EXPECT_LE(two.relative_l2, kTolerance);

  auto half = run_agegate(deterministic_args(data, scratch / "half", 4), "OMP_NUM_THREADS=1 ");
  ASSERT_EQ(half.exit_code, 0) << half.err;
  const WeightDifference half_batch = weight_difference(scratch / "one" / "model.agm", scratch / "half" / "model.agm");
  EXPECT_GT(half_batch.relative_l2, 5 * kTolerance);

  // The epoch's record is the whole job's: the same photos and figures as alone.
  const auto alone = read_metrics_csv(scratch / "one" / kMetricsFile);
  const auto ranks = read_metrics_csv(scratch / "two" / kMetricsFile);
  ASSERT_EQ(alone.size(), 1u);
  ASSERT_EQ(ranks.size(), 1u);
  EXPECT_NEAR(ranks[0].train_loss, alone[0].train_loss, 1e-4 * alone[0].train_loss);
  EXPECT_NEAR(ranks[0].val_mae, alone[0].val_mae, 0.1);
  const nlohmann::json run = nlohmann::json::parse(read_file(scratch / "two" / "run.json"));
  EXPECT_EQ(run["run"]["world_size"], 2);
  EXPECT_EQ(run["run"]["backend"], "gloo");
  EXPECT_GE(run["run"]["gradient_buckets"].get<int>(), 1);
}

std::string torchrun_program() { return fs::exists("/usr/bin/torchrun") ? "/usr/bin/torchrun" : ""; }

// Everything on: augmentation, flips, dropout, group-balancing weights.
TEST(DistributedTraining, TwoRanksWithEverythingOnTrainEndToEnd) {
  AGEGATE_REQUIRE(testing::enter_private_network(), kPrivateNetworkWhy);

  const fs::path data = testing::make_mini_dataset("dist-e2e", 40);
  const fs::path scratch = testing::scratch_dir("dist-e2e-runs");
  const fs::path out = scratch / "run";
  const std::string args = "-q train --data " + data.string() + " --out " + out.string() +
                           " --backbone mobilenet_v2 --input-size 64 --epochs 2 --batch-size 8 --threads 1 "
                           "--workers 1 --no-report --balance-groups sex --seed 5";
  std::string log;
  if (!torchrun_program().empty()) {
    // torch 1.13's torchrun on Python 3.11 starts only with its output redirected to a log folder.
    const std::string cmd = "cd '" + scratch.string() + "' && OMP_NUM_THREADS=1 " + torchrun_program() +
                            " --nnodes 1 --nproc_per_node 2 --master_addr 127.0.0.1 --master_port " +
                            std::to_string(testing::free_loopback_port()) + " --redirects 2 --tee 2 --log_dir '" +
                            (scratch / "torchrun-logs").string() + "' --no_python '" + AGEGATE_TEST_AGEGATE_EXE +
                            "' " + args + " > '" + (scratch / "torchrun.log").string() + "' 2>&1";
    const int status = std::system(cmd.c_str());
    log = read_file(scratch / "torchrun.log");
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log;
    EXPECT_NE(log.find("torchrun's agent"), std::string::npos) << log;  // every rank a client of the agent's store
  } else {
    std::vector<std::string> errs;
    const auto codes = run_ranks(2, args, &errs);
    ASSERT_EQ(codes, (std::vector<int>{0, 0})) << errs[0] << "\n---\n" << errs[1];
    log = errs[0] + errs[1];
  }
  ASSERT_TRUE(fs::exists(out / "model.agm")) << log;
  const auto history = read_metrics_csv(out / kMetricsFile);
  ASSERT_EQ(history.size(), 2u);
  for (const auto& e : history) {
    EXPECT_TRUE(std::isfinite(e.train_loss));
    EXPECT_GT(e.images_per_s, 0);
  }
  const nlohmann::json run = nlohmann::json::parse(read_file(out / "run.json"));
  EXPECT_EQ(run["run"]["world_size"], 2);
  const ModelInfo info = read_model_info(out / "model.agm");
  EXPECT_EQ(info.record.training->options.at("world_size"), 2);
  EXPECT_EQ(info.record.training->options.at("balance_groups"), nlohmann::json::array({"sex"}));
}

// Ctrl-C reaches one rank only: both stop at the same batch (as a single
// run does, rank 0 keeps the checkpoint and writes the best epoch so far),
// and the job started again as torchrun restarts it (without --resume, with
// TORCHELASTIC_RESTART_COUNT=1) resumes it on both ranks and finishes.
TEST(DistributedTraining, RanksStopTogetherAndARestartedJobResumes) {
  AGEGATE_REQUIRE(testing::enter_private_network(), kPrivateNetworkWhy);

  const fs::path data = testing::make_mini_dataset("dist-stop", 60);
  const fs::path out = testing::scratch_dir("dist-stop-run") / "run";
  const std::string args = "-q train --data " + data.string() + " --out " + out.string() +
                           " --backbone mobilenet_v2 --input-size 64 --epochs 40 --batch-size 4 --threads 1 "
                           "--workers 1 --no-report --no-groups --patience 100";
  const int port = testing::free_loopback_port();
  AgegateProcess rank0(words(args), fs::current_path(), rank_env(0, 2, port));
  AgegateProcess rank1(words(args), fs::current_path(), rank_env(1, 2, port));
  rank0.wait_for_stderr("epoch 2:", 300);
  rank1.signal(SIGINT);
  EXPECT_EQ(rank1.wait(120), 0) << rank1.err();
  EXPECT_EQ(rank0.wait(120), 0) << rank0.err();
  EXPECT_NE(rank0.err().find("interrupted in epoch"), std::string::npos) << rank0.err();
  EXPECT_NE(rank1.err().find("interrupted in epoch"), std::string::npos) << rank1.err();
  ASSERT_TRUE(fs::exists(out / kCheckpointFile));
  const size_t epochs_before = read_metrics_csv(out / kMetricsFile).size();
  ASSERT_GE(epochs_before, 2u);
  ASSERT_LT(epochs_before, 40u) << "the job ended before the signal could stop it";

  std::vector<std::string> errs;
  const auto codes = run_ranks(2, args, &errs, {"TORCHELASTIC_RESTART_COUNT=1"});
  ASSERT_EQ(codes, (std::vector<int>{0, 0})) << errs[0] << "\n---\n" << errs[1];
  for (const auto& e : errs) {
    EXPECT_NE(e.find("resuming " + out.string() + " at epoch " + std::to_string(epochs_before + 1)), std::string::npos)
        << e;
  }
  EXPECT_EQ(read_metrics_csv(out / kMetricsFile).size(), 40u);
  EXPECT_TRUE(fs::exists(out / "model.agm"));
}

TEST(DistributedTraining, ARankAloneFailsWithinTheTimeoutInOneLineNamingTheStore) {
  AGEGATE_REQUIRE(testing::enter_private_network(), kPrivateNetworkWhy);

  const fs::path data = testing::make_mini_dataset("dist-alone", 12);
  const fs::path out = testing::scratch_dir("dist-alone-run") / "run";
  const int port = testing::free_loopback_port();
  const auto start = std::chrono::steady_clock::now();
  auto r = run_agegate("-q train --data " + data.string() + " --out " + out.string() + " --dist-timeout 2",
                       "WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " ");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 3) << r.err;  // an I/O error
  EXPECT_LT(seconds, 20.0);
  EXPECT_NE(r.err.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(out)) << "a rank that never joined wrote " << out;
}

TEST(DistributedTraining, ABatchThatTheRanksCannotShareEquallyIsRefused) {
  const fs::path data = testing::make_mini_dataset("dist-odd", 12);
  auto r = run_agegate("-q train --data " + data.string() + " --out " +
                           (testing::scratch_dir("dist-odd-run") / "run").string() + " --batch-size 9",
                       "WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 ");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--batch-size"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("WORLD_SIZE=2"), std::string::npos) << r.err;
}

// Two jobs, two folders (two machines): each trains its fold; gathering
// refuses while a fold is missing, then fits and distils once both are in.
TEST(DistributedTraining, FoldsTrainedAsSeparateJobsAreGatheredByOneCommand) {
  const fs::path data = testing::make_mini_dataset("dist-folds", 48);
  const fs::path scratch = testing::scratch_dir("dist-folds-runs");
  const std::string common = "-q train --data " + data.string() +
                             " --folds 2 --epochs 1 --batch-size 8 --input-size 64 --no-report --workers 1 --seed 7";
  auto a = run_agegate(common + " --out " + (scratch / "a").string() + " --fold 1");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_NE(a.out.find("--gather"), std::string::npos) << a.out;
  auto b = run_agegate(common + " --out " + (scratch / "b").string() + " --fold 2");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_TRUE(fs::exists(scratch / "a" / "fold-1" / "model.agm"));
  EXPECT_FALSE(fs::exists(scratch / "a" / "fold-2"));
  EXPECT_TRUE(fs::exists(scratch / "b" / "fold-2" / "model.agm"));
  EXPECT_EQ(read_file(scratch / "a" / "folds.csv"), read_file(scratch / "b" / "folds.csv"));

  auto early = run_agegate(common + " --out " + (scratch / "a").string() + " --gather");
  EXPECT_EQ(early.exit_code, 2) << early.err;
  EXPECT_NE(early.err.find("fold-2"), std::string::npos) << early.err;
  EXPECT_FALSE(fs::exists(scratch / "a" / "model.agm"));

  fs::copy(scratch / "b" / "fold-2", scratch / "a" / "fold-2", fs::copy_options::recursive);
  fs::copy_file(scratch / "b" / "fold-2.split.csv", scratch / "a" / "fold-2.split.csv");
  auto gather = run_agegate(common + " --out " + (scratch / "a").string() + " --gather");
  ASSERT_EQ(gather.exit_code, 0) << gather.err;
  EXPECT_NE(gather.err.find("fold 1/2: done earlier"), std::string::npos) << gather.err;
  EXPECT_NE(gather.err.find("fold 2/2: done earlier"), std::string::npos) << gather.err;
  EXPECT_TRUE(fs::exists(scratch / "a" / "model.agm"));
  const nlohmann::json cf = nlohmann::json::parse(read_file(scratch / "a" / "crossfit.json"));
  EXPECT_EQ(cf["folds"].size(), 2u);
  std::ifstream oof(scratch / "a" / "predictions_oof.csv");
  size_t lines = 0;
  for (std::string line; std::getline(oof, line);) lines += line.empty() ? 0 : 1;
  EXPECT_EQ(lines - 1, cf["pool_count"].get<size_t>());
}

}  // namespace
}  // namespace agegate
