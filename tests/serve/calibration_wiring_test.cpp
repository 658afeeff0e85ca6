// Calibration wiring: the temperature stored in the model file is the one
// evaluate, predict and serve apply, and --no-calibration applies 1 in each.
// The shipped (trained) network is saved twice with two temperatures, so
// the only difference between the files is T.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "agegate/core/age_band.h"
#include "agegate/core/fs.h"
#include "agegate/core/run_info.h"
#include "agegate/data/image.h"
#include "agegate/eval/estimator.h"
#include "agegate/eval/metrics.h"
#include "agegate/model/model_file.h"
#include "agegate/serve/server.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::run_agegate;

constexpr double kLevel = 0.9;  // the default policy's interval level
constexpr double kWarm = 3.0;   // a temperature far from any fitted one

struct Models {
  fs::path cold;    // T = 1
  fs::path warm;    // T = kWarm
  fs::path banded;  // global T = 1, every band's T = kWarm
};

const Models& models() {
  static Models m = [] {
    fs::path dir = fs::path(AGEGATE_TEST_BINARY_DIR) / "test-scratch" / "calibration-wiring";
    fs::create_directories(dir);
    LoadedModel base = load_model_file(default_model_path());
    Models out{dir / "t1.agm", dir / "t3.agm", dir / "bands3.agm"};
    base.info.temperature_bands.clear();  // one global T: the files differ only in it
    base.info.temperature = 1.0;
    save_model_file(out.cold, base.net, base.info);
    base.info.temperature = kWarm;
    save_model_file(out.warm, base.net, base.info);
    // Per-band temperatures win over the global one: every band at kWarm,
    // the global T at 1.
    base.info.temperature = 1.0;
    for (const auto& b : report_age_bands()) base.info.temperature_bands.push_back({b.low, std::min(b.high, 100), kWarm});
    save_model_file(out.banded, base.net, base.info);
    return out;
  }();
  return m;
}

std::pair<double, double> library_interval(const fs::path& model, const fs::path& photo, bool calibrated = true) {
  EstimatorOptions o;
  o.threads = 1;
  o.apply_calibration = calibrated;
  Estimator e(model, o);
  return e.estimate({read_image(photo)})[0].interval(kLevel);
}

std::pair<double, double> interval_of(const json& face) {
  return {face["interval"]["low"].get<double>(), face["interval"]["high"].get<double>()};
}

TEST(CalibrationWiring, TheLibraryAppliesTheStoredTemperature) {
  const fs::path photo = testing::real_photo(11).first;
  auto cold = library_interval(models().cold, photo);
  auto warm = library_interval(models().warm, photo);
  // T > 1 flattens the distribution: a clearly wider interval.
  EXPECT_GT(warm.second - warm.first, 1.3 * (cold.second - cold.first));
  // Without calibration the two files are the same network.
  auto raw = library_interval(models().warm, photo, /*calibrated=*/false);
  EXPECT_NEAR(raw.first, cold.first, 1e-6);
  EXPECT_NEAR(raw.second, cold.second, 1e-6);
  // The band temperatures are applied, not the global one beside them.
  auto banded = library_interval(models().banded, photo);
  EXPECT_NEAR(banded.first, warm.first, 1e-6);
  EXPECT_NEAR(banded.second, warm.second, 1e-6);
}

TEST(CalibrationWiring, PredictAppliesItAndNoCalibrationDoesNot) {
  const fs::path photo = testing::real_photo(11).first;
  auto p = run_agegate("-q predict --json --detect off --model " + models().warm.string() + " " + photo.string());
  ASSERT_EQ(p.exit_code, 0) << p.err;
  json j = json::parse(p.out);
  EXPECT_DOUBLE_EQ(j["temperature"].get<double>(), kWarm);
  auto got = interval_of(j["results"][0]["faces"][0]);
  auto want = library_interval(models().warm, photo);
  EXPECT_NEAR(got.first, want.first, 1e-3);
  EXPECT_NEAR(got.second, want.second, 1e-3);

  auto r = run_agegate("-q predict --json --detect off --no-calibration --model " + models().warm.string() + " " +
                       photo.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json rj = json::parse(r.out);
  EXPECT_DOUBLE_EQ(rj["temperature"].get<double>(), 1.0);
  auto raw = interval_of(rj["results"][0]["faces"][0]);
  auto cold = library_interval(models().cold, photo);
  EXPECT_NEAR(raw.first, cold.first, 1e-3);
  EXPECT_NEAR(raw.second, cold.second, 1e-3);
}

TEST(CalibrationWiring, EvaluateAppliesItAndNoCalibrationDoesNot) {
  fs::path data = testing::make_mini_dataset("cal-data", 12);
  fs::path out = testing::scratch_dir("cal-eval");
  auto run = [&](const fs::path& model, const std::string& extra, const std::string& name) {
    auto e = run_agegate("-q evaluate --json --data " + data.string() + " --model " + model.string() + " " + extra +
                         " --predictions " + (out / name).string());
    EXPECT_EQ(e.exit_code, 0) << e.err;
    return std::make_pair(json::parse(e.out), read_predictions_csv(out / name));
  };
  auto [warm_j, warm_rows] = run(models().warm, "", "warm.csv");
  auto [raw_j, raw_rows] = run(models().warm, "--no-calibration", "raw.csv");
  auto [cold_j, cold_rows] = run(models().cold, "", "cold.csv");
  EXPECT_DOUBLE_EQ(warm_j["temperature"].get<double>(), kWarm);
  EXPECT_DOUBLE_EQ(raw_j["temperature"].get<double>(), 1.0);
  ASSERT_EQ(warm_rows.size(), 12u);
  ASSERT_EQ(raw_rows.size(), 12u);
  ASSERT_EQ(cold_rows.size(), 12u);
  for (size_t i = 0; i < warm_rows.size(); ++i) {
    // --no-calibration on the warm file answers exactly what the T = 1 file does.
    EXPECT_NEAR(raw_rows[i].low, cold_rows[i].low, 1e-3) << warm_rows[i].file_name;
    EXPECT_NEAR(raw_rows[i].high, cold_rows[i].high, 1e-3) << warm_rows[i].file_name;
    EXPECT_GT(warm_rows[i].high - warm_rows[i].low, raw_rows[i].high - raw_rows[i].low) << warm_rows[i].file_name;
  }
  // The uncalibrated coverage it reports beside the calibrated one is the T = 1 file's.
  EXPECT_NEAR(warm_j["coverage_uncalibrated"]["overall"].get<double>(),
              cold_j["coverage"].get<double>(), 1e-9)
      << warm_j.dump();
}

TEST(CalibrationWiring, ServeAppliesItAndNoCalibrationDoesNot) {
  const fs::path photo = testing::real_photo(11).first;
  const std::string body = read_file(photo);
  for (bool calibrated : {true, false}) {
    ServerOptions o;
    o.port = 0;
    o.pipeline.model = models().warm;
    o.pipeline.detect = DetectMode::kOff;
    o.pipeline.threads = 1;
    o.pipeline.calibrated = calibrated;
    Server server(o);
    server.start();
    httplib::Client c("127.0.0.1", server.port());
    auto r = c.Post("/v1/estimate", body, "image/jpeg");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    json j = json::parse(r->body);
    EXPECT_DOUBLE_EQ(j["model"]["temperature"].get<double>(), calibrated ? kWarm : 1.0);
    auto got = interval_of(j["faces"][0]);
    auto want = library_interval(calibrated ? models().warm : models().cold, photo);
    EXPECT_NEAR(got.first, want.first, 1e-3) << "calibrated " << calibrated;
    EXPECT_NEAR(got.second, want.second, 1e-3) << "calibrated " << calibrated;
  }
}

}  // namespace
}  // namespace agegate
