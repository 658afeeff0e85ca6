// Cross-fitting end to end on a few dozen real photos (train --folds): every
// pool photo gets exactly one out-of-fold estimate from the one model that
// never saw it, the held-out part stays out of every fold, the calibration
// and policy come from those estimates, and --resume skips finished folds.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>

#include "agegate/core/fs.h"
#include "agegate/model/model_file.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;
using testing::run_agegate;

// name -> part, from a split.csv or folds.csv (file_name,real_age,<part>).
std::map<std::string, std::string> parts(const fs::path& csv) {
  std::map<std::string, std::string> out;
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    out[line.substr(0, line.find(','))] = line.substr(line.rfind(',') + 1);
  }
  return out;
}

TEST(CrossFit, EveryPoolPhotoGetsOneOutOfFoldEstimateAndTheHeldOutPartNone) {
  const fs::path data = testing::make_mini_dataset("crossfit", 60);
  const fs::path run = testing::scratch_dir("crossfit-run") / "r";
  const std::string args = "-q train --data " + data.string() + " --out " + run.string() +
                           " --folds 2 --max-photos 60 --epochs 1 --batch-size 8 --input-size 64 --no-report "
                           "--workers 2 --seed 7";
  auto t = run_agegate(args);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("out of fold"), std::string::npos) << t.out;

  const auto folds = parts(run / "folds.csv");
  ASSERT_EQ(folds.size(), 60u);
  std::set<std::string> held_out, pool;
  for (const auto& [name, fold] : folds) (fold == "test" ? held_out : pool).insert(name);
  EXPECT_GE(held_out.size(), 5u);  // about 15% held out (at least one per age stratum)
  EXPECT_LE(held_out.size(), 15u);
  // Each fold's run validated on its fold and trained on the other; neither read a held-out photo.
  for (int k = 1; k <= 2; ++k) {
    const auto split = parts(run / ("fold-" + std::to_string(k)) / "split.csv");
    EXPECT_EQ(split.size(), pool.size());
    for (const auto& [name, part] : split) {
      EXPECT_EQ(held_out.count(name), 0u) << name << " is held out but fold " << k << " read it";
      EXPECT_EQ(part, folds.at(name) == std::to_string(k) ? "val" : "train") << name;
    }
    const ModelInfo info = read_model_info(run / ("fold-" + std::to_string(k)) / "model.agm");
    EXPECT_EQ(info.flip_settings(), (std::vector<bool>{false, true}));
  }
  // One out-of-fold estimate per pool photo, none for the held-out ones.
  const auto oof = parts(run / "predictions_oof.csv");
  EXPECT_EQ(oof.size(), pool.size());
  for (const auto& name : held_out) EXPECT_EQ(oof.count(name), 0u) << name;
  for (const auto& name : pool) EXPECT_EQ(oof.count(name), 1u) << name;

  // The fit: both inference settings, each with a calibration and rates with 95% intervals.
  const auto doc = nlohmann::json::parse(read_file(run / "crossfit.json"));
  ASSERT_EQ(doc["folds"].size(), 2u);
  EXPECT_EQ(doc["pool_count"].get<size_t>(), pool.size());
  ASSERT_EQ(doc["out_of_fold"]["variants"].size(), 2u);
  for (const auto& v : doc["out_of_fold"]["variants"]) {
    EXPECT_GT(v["mae"].get<double>(), 0.0);
    EXPECT_GT(v["calibration"]["temperature"].get<double>(), 0.0);
    const auto& adults = v["rates"]["adults_25plus_check"];
    EXPECT_EQ(adults["count"].get<int>() > 0, adults["interval95"].is_array());
    EXPECT_TRUE(v["summary"].contains("mae"));
  }
  // The whole run's split: the pool to train on, the held-out part to measure once.
  const auto whole = parts(run / "split.csv");
  for (const auto& [name, part] : whole) EXPECT_EQ(part, held_out.count(name) ? "test" : "train") << name;

  // The one file: the student, with the out-of-fold calibration and policy for both settings.
  const ModelInfo shipped = read_model_info(run / "model.agm");
  EXPECT_EQ(shipped.flip_settings(), (std::vector<bool>{false, true}));
  const auto& one_pass = doc["out_of_fold"]["variants"][0];
  ASSERT_FALSE(one_pass["flip_average"].get<bool>());
  EXPECT_DOUBLE_EQ(shipped.temperature, one_pass["calibration"]["temperature"].get<double>());
  EXPECT_TRUE(shipped.record.cross_fit.is_object());
  // The student read every pool photo with its teachers' distributions in the target.
  const auto student_split = parts(run / "student" / "split.csv");
  for (const auto& name : held_out) EXPECT_EQ(student_split.count(name), 0u) << name;
  const auto student_options = nlohmann::json::parse(read_file(run / "student" / "options.json"));
  EXPECT_EQ(student_options["options"]["teachers"].size(), 2u);
  // Held-out figures for the student and the fold ensemble, each over the held-out photos.
  for (const char* name : {"student", "ensemble"}) {
    EXPECT_EQ(doc["held_out"][name]["count"].get<size_t>(), held_out.size()) << name;
  }
  // The shipped file's record quotes the student's held-out figures (what evaluate, the audit and a card read).
  const ModelInfo with_test = read_model_info(run / "model.agm");
  ASSERT_TRUE(with_test.record.metrics.test.has_value());
  EXPECT_DOUBLE_EQ(with_test.record.metrics.test->at("mae").get<double>(), doc["held_out"]["student"]["mae"].get<double>());
  EXPECT_TRUE(with_test.record.metrics.out_of_fold.has_value());
  auto model_test = run_agegate("-q evaluate --json --model " + (run / "model.agm").string() + " --data " +
                                data.string() + " --split model --part test");
  ASSERT_EQ(model_test.exit_code, 0) << model_test.err;
  EXPECT_EQ(nlohmann::json::parse(model_test.out)["count"].get<size_t>(), held_out.size());

  // A second start refuses to overwrite; --resume skips every finished part (the fold and student
  // models stay byte for byte) and refits the same (within the threads' float summation order).
  auto again = run_agegate(args);
  EXPECT_EQ(again.exit_code, 2) << again.err;
  EXPECT_NE(again.err.find("already holds a cross-fit"), std::string::npos) << again.err;
  const std::string fold_model = read_file(run / "fold-1" / "model.agm");
  const std::string student_model = read_file(run / "student" / "model.agm");
  const auto first = nlohmann::json::parse(read_file(run / "crossfit.json"));
  auto resumed = run_agegate(args + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(read_file(run / "fold-1" / "model.agm"), fold_model) << "fold 1 was trained again";
  EXPECT_EQ(read_file(run / "student" / "model.agm"), student_model) << "the student was trained again";
  const auto refit = nlohmann::json::parse(read_file(run / "crossfit.json"));
  for (size_t v = 0; v < 2; ++v) {
    EXPECT_NEAR(refit["out_of_fold"]["variants"][v]["mae"].get<double>(),
                first["out_of_fold"]["variants"][v]["mae"].get<double>(), 1e-4);
  }
  EXPECT_EQ(parts(run / "predictions_oof.csv").size(), pool.size());

  // A fold model is an ordinary model: evaluate measures it on the held-out part.
  auto e = run_agegate("-q evaluate --json --model " + (run / "fold-1" / "model.agm").string() + " --data " +
                       data.string() + " --split " + (run / "split.csv").string() + " --part test");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(nlohmann::json::parse(e.out)["count"].get<size_t>(), held_out.size());
}

TEST(CrossFit, RefusesOneFoldAndASplitFile) {
  const fs::path data = testing::make_mini_dataset("crossfit-bad", 12);
  const fs::path dir = testing::scratch_dir("crossfit-bad-run");
  auto one = run_agegate("-q train --data " + data.string() + " --out " + (dir / "a").string() + " --folds 1");
  EXPECT_EQ(one.exit_code, 2);  // a usage error, not a crash or a sanitizer abort
  EXPECT_NE(one.err.find("--folds"), std::string::npos) << one.err;
  std::ofstream(dir / "s.csv") << "file_name,real_age,split\n";
  auto both = run_agegate("-q train --data " + data.string() + " --out " + (dir / "b").string() +
                          " --folds 2 --split " + (dir / "s.csv").string());
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.err.find("--split"), std::string::npos) << both.err;
}

}  // namespace
}  // namespace agegate
