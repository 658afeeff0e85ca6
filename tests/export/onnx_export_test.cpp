// ONNX export, proved by runtimes that are not agegate's: OpenCV's DNN
// module runs the exported file here, on real photos; ONNX Runtime's answers
// for the same file come from tests/data/onnx_runtime_outputs.json (made by
// tools/onnx-runtime/make-fixture.sh with onnxruntime-node), tied to the
// export by the graph's SHA-256. Both must give LibTorch's logits within
// 1e-3 and its expected age within 0.01 years, one pass and flip-averaged,
// batch 1 and batch 8; every backbone exports; bad input is refused clearly.
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <opencv2/dnn.hpp>
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/run_info.h"
#include "agegate/data/image.h"
#include "agegate/data/labels.h"
#include "agegate/eval/run_model.h"
#include "agegate/export/onnx_export.h"
#include "agegate/model/imagenet_import.h"
#include "agegate/model/model_file.h"
#include "agegate/policy/policy.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;

constexpr int kPhotos = 8;

fs::path shipped_model() { return fs::path(AGEGATE_TEST_SOURCE_DIR) / "models" / "agegate.agm"; }

// The first kPhotos photos of labels.csv, prepared as agegate prepares them: [8,3,S,S] uint8.
at::Tensor prepared_photos(const PreprocessSpec& spec, std::vector<std::string>* names = nullptr) {
  std::vector<at::Tensor> u8;
  for (int i = 0; i < kPhotos; ++i) {
    const auto [path, age] = testing::real_photo(i);
    u8.push_back(prepare(read_image(path), spec));
    if (names) names->push_back(path.filename().string());
  }
  return at::stack(u8);
}

// LibTorch's logits through agegate's one inference path, and the expected age at the global temperature.
struct Answer {
  at::Tensor logits;  // [N,K] float
  std::vector<double> age;
};

Answer libtorch_answer(LoadedModel& m, const at::Tensor& u8) {
  c10::InferenceMode guard;
  m.net->eval();
  Answer a;
  a.logits = forward_prepared(m.net, m.info.preprocess, u8, c10::kCPU);
  for (const auto& d : to_distributions(a.logits, AgeCalibration(m.info.temperature))) a.age.push_back(d.mean());
  return a;
}

// OpenCV DNN on the exported bytes, one forward over `u8` as float 0..255.
Answer opencv_answer(const std::string& onnx_bytes, const at::Tensor& u8) {
  cv::dnn::Net net = cv::dnn::readNetFromONNX(onnx_bytes.data(), onnx_bytes.size());
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  const at::Tensor x = u8.to(at::kFloat).contiguous();
  std::vector<int> dims(x.sizes().begin(), x.sizes().end());
  cv::Mat blob(static_cast<int>(dims.size()), dims.data(), CV_32F, x.data_ptr<float>());
  net.setInput(blob, "image");
  std::vector<cv::Mat> outs;
  net.forward(outs, std::vector<cv::String>{"logits", "age"});
  Answer a;
  const int64_t n = x.size(0);
  a.logits = at::from_blob(outs[0].ptr<float>(), {n, static_cast<int64_t>(outs[0].total() / n)}, at::kFloat).clone();
  EXPECT_EQ(static_cast<int64_t>(outs[1].total()), n);
  for (int64_t i = 0; i < n; ++i) a.age.push_back(outs[1].ptr<float>()[i]);
  return a;
}

// Logits within 1e-3 and ages within 0.01 years. `logit_scale`: for random
// networks, whose logits run into the hundreds, the logit bound is 1e-3 of
// their largest magnitude (float32 rounding grows with it).
void expect_same(const Answer& got, const Answer& want, const std::string& what, bool logit_scale = false) {
  SCOPED_TRACE(what);
  ASSERT_EQ(got.logits.sizes(), want.logits.sizes());
  const double logit_diff = (got.logits - want.logits).abs().max().item<double>();
  const double largest = want.logits.abs().max().item<double>();
  EXPECT_LT(logit_diff, 1e-3 * (logit_scale ? std::max(1.0, largest) : 1.0)) << "largest |logit| " << largest;
  ASSERT_EQ(got.age.size(), want.age.size());
  double age_diff = 0;
  for (size_t i = 0; i < got.age.size(); ++i) {
    EXPECT_NEAR(got.age[i], want.age[i], 0.01) << "photo " << i;
    age_diff = std::max(age_diff, std::abs(got.age[i] - want.age[i]));
  }
  std::printf("%s: max |logit difference| %.2e (largest |logit| %.1f), max |age difference| %.2e years\n",
              what.c_str(), logit_diff, largest, age_diff);
}

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  return m;
}

std::map<std::string, nlohmann::json> metadata(const onnx::ModelProto& m) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& p : m.metadata_props()) out[p.key()] = nlohmann::json::parse(p.value());
  return out;
}

class ShippedModelExport : public ::testing::TestWithParam<bool> {};

TEST_P(ShippedModelExport, OpenCvRunsItWithLibTorchsAnswersAtBatch1And8) {
  const bool flip = GetParam();
  LoadedModel m = load_model_file(shipped_model(), flip);
  OnnxExport facts;
  const std::string bytes = onnx_model_bytes(m.net, m.info, &facts);
  EXPECT_EQ(facts.flip_average, flip);
  EXPECT_EQ(facts.opset, kOnnxOpset);
  const at::Tensor u8 = prepared_photos(m.info.preprocess);
  const Answer want = libtorch_answer(m, u8);
  // The ages differ from photo to photo: a forgotten normalisation would give all the same.
  EXPECT_GT(*std::max_element(want.age.begin(), want.age.end()) - *std::min_element(want.age.begin(), want.age.end()),
            5.0);
  expect_same(opencv_answer(bytes, u8), want, "batch 8");
  for (int i : {0, 5}) {
    Answer one = opencv_answer(bytes, u8.narrow(0, i, 1));
    Answer w{want.logits.narrow(0, i, 1), {want.age[static_cast<size_t>(i)]}};
    expect_same(one, w, "batch 1, photo " + std::to_string(i));
  }
}

TEST_P(ShippedModelExport, OnnxRuntimesAnswersForThisVeryGraphMatchLibTorch) {
  const bool flip = GetParam();
  const fs::path fixture_path = fs::path(AGEGATE_TEST_SOURCE_DIR) / "tests/data/onnx_runtime_outputs.json";
  const nlohmann::json fixture = nlohmann::json::parse(read_file(fixture_path));
  const nlohmann::json& f = fixture.at(flip ? "flip_average" : "one_pass");
  LoadedModel m = load_model_file(shipped_model(), flip);
  OnnxExport facts;
  onnx_model_bytes(m.net, m.info, &facts);
  ASSERT_EQ(facts.graph_sha256, f.at("graph_sha256").get<std::string>())
      << "the export changed since ONNX Runtime ran it: rerun tools/onnx-runtime/make-fixture.sh";
  std::vector<std::string> names;
  const at::Tensor u8 = prepared_photos(m.info.preprocess, &names);
  EXPECT_EQ(names, fixture.at("photos").get<std::vector<std::string>>());
  const Answer want = libtorch_answer(m, u8);
  for (const char* batch : {"batch_8", "batch_1"}) {
    const nlohmann::json& r = f.at(batch);
    const auto logits = r.at("logits").get<std::vector<std::vector<float>>>();
    const auto ages = r.at("age").get<std::vector<double>>();
    ASSERT_EQ(logits.size(), ages.size());
    Answer got;
    std::vector<at::Tensor> rows;
    for (const auto& row : logits) rows.push_back(at::tensor(row));
    got.logits = at::stack(rows);
    got.age = ages;
    const int64_t n = got.logits.size(0);
    Answer w{want.logits.narrow(0, 0, n), std::vector<double>(want.age.begin(), want.age.begin() + n)};
    expect_same(got, w, std::string("ONNX Runtime ") + r.at("runtime").get<std::string>() + ", " + batch);
  }
}

INSTANTIATE_TEST_SUITE_P(OnePassAndFlip, ShippedModelExport, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "FlipAveraged" : "OnePass"; });

TEST(OnnxExport, TheFileIsValidOnnxThatCarriesWhatAConsumerNeeds) {
  const fs::path out = testing::scratch_dir("onnx_file") / "agegate.onnx";
  const OnnxExport facts = export_onnx(shipped_model(), out, {});
  EXPECT_EQ(facts.bytes, static_cast<int64_t>(fs::file_size(out)));
  EXPECT_NO_THROW(onnx::checker::check_model(out.string()));
  const onnx::ModelProto m = parse(read_file(out));
  EXPECT_EQ(m.opset_import(0).version(), kOnnxOpset);
  ASSERT_EQ(m.graph().input_size(), 1);
  const auto& in = m.graph().input(0);
  EXPECT_EQ(in.name(), "image");
  const auto& dims = in.type().tensor_type().shape().dim();
  ASSERT_EQ(dims.size(), 4);
  EXPECT_EQ(dims[0].dim_param(), "N");
  EXPECT_EQ(dims[1].dim_value(), 3);
  EXPECT_EQ(dims[2].dim_value(), facts.input_size);
  ASSERT_EQ(m.graph().output_size(), 2);
  EXPECT_EQ(m.graph().output(0).name(), "logits");
  EXPECT_EQ(m.graph().output(1).name(), "age");

  const ModelInfo info = read_model_info(shipped_model());
  const auto meta = metadata(m);
  EXPECT_EQ(meta.at("agegate.preprocess"), info.preprocess.to_json());
  EXPECT_EQ(meta.at("agegate.calibration"), info.calibration().to_json());
  EXPECT_FALSE(meta.at("agegate.calibration").at("bands").empty());
  EXPECT_EQ(meta.at("agegate.recommended_policy"), info.record.recommended_policy);
  EXPECT_EQ(meta.at("agegate.data").at("fingerprint"), info.record.data.fingerprint);
  ASSERT_TRUE(info.record.training.has_value());
  EXPECT_EQ(meta.at("agegate.training").at("seed"), info.record.training->seed);
  EXPECT_EQ(meta.at("agegate.training").at("git"), info.record.training->git);
  EXPECT_EQ(meta.at("agegate.version").at("version"), agegate_version());
  EXPECT_TRUE(meta.count("agegate.outputs"));
}

TEST(OnnxExport, TheFlipSettingPicksTheVariantAndItsCalibration) {
  const fs::path dir = testing::scratch_dir("onnx_flip");
  export_onnx(shipped_model(), dir / "one.onnx", {});
  OnnxExportOptions on;
  on.flip_average = true;
  export_onnx(shipped_model(), dir / "flip.onnx", on);
  const auto one = metadata(parse(read_file(dir / "one.onnx")));
  const auto flip = metadata(parse(read_file(dir / "flip.onnx")));
  EXPECT_EQ(one.at("agegate.preprocess").at("flip_average"), false);
  EXPECT_EQ(flip.at("agegate.preprocess").at("flip_average"), true);
  EXPECT_EQ(flip.at("agegate.calibration"), read_model_info(shipped_model(), true).calibration().to_json());
  EXPECT_NE(one.at("agegate.calibration"), flip.at("agegate.calibration"));
}

// Random networks of every backbone at a small input: OpenCV runs each export with LibTorch's logits.
class EveryBackbone : public ::testing::TestWithParam<Backbone> {};

TEST_P(EveryBackbone, ExportsAndOpenCvAgrees) {
  at::manual_seed(3);
  LoadedModel m;
  m.info.config.backbone = GetParam();
  m.info.preprocess.input_size = GetParam() == Backbone::kFaceResNet ? 112 : 64;
  m.info.temperature = 1.3;
  m.net = AgeNet(m.info.config);
  {
    torch::NoGradGuard no_grad;
    // Batch-norm statistics and scales that keep the signal alive through
    // every block (zero-initialised residual scales, means that would cut
    // everything at the ReLUs), so a wrong op anywhere shows in the logits.
    for (auto& b : m.net->named_buffers()) {
      if (b.key().find("running_mean") != std::string::npos) b.value().uniform_(-0.1, 0.1);
      if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
    }
    for (auto& p : m.net->named_parameters()) {
      if (p.key().find("bn") != std::string::npos || p.key().find("downsample.1") != std::string::npos) {
        p.value().uniform_(0.5, 1.5);
      }
    }
    // MobileNetV2 (no batch-norm) at Kaiming scale saturates its ReLU6, so
    // every input gives the same features; its ImageNet weights do not.
    if (GetParam() == Backbone::kMobileNetV2) {
      import_mobilenet_v2_imagenet(m.net->backbone(), testing::weights_dir() / kMobileNetFile);
    }
    // Spread logits, so the expected age depends on the weights.
    m.net->named_parameters()["head.weight"].mul_(20);
  }
  const at::Tensor u8 = at::randint(0, 256, {3, 3, m.info.preprocess.input_size, m.info.preprocess.input_size},
                                    at::TensorOptions().dtype(at::kByte));
  for (bool flip : {false, true}) {
    m.info.preprocess.flip_average = flip;
    // The photos get different answers: the network's output depends on its input.
    const Answer want = libtorch_answer(m, u8);
    EXPECT_GT((want.logits[0] - want.logits[1]).abs().max().item<double>(), 0.05) << to_string(GetParam());
    expect_same(opencv_answer(onnx_model_bytes(m.net, m.info), u8), want, std::string(to_string(GetParam())) + (flip ? " flip" : " one pass"),
                /*logit_scale=*/true);
  }
}

INSTANTIATE_TEST_SUITE_P(All, EveryBackbone, ::testing::ValuesIn(kBackbones),
                         [](const ::testing::TestParamInfo<Backbone>& p) { return std::string(to_string(p.param)); });

std::string export_error(const fs::path& model, const fs::path& out) {
  try {
    export_onnx(model, out, {});
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(OnnxExport, ACorruptOrForeignModelFileIsAModelErrorNamingIt) {
  const fs::path dir = testing::scratch_dir("onnx_bad_model");
  const std::string good = read_file(shipped_model());
  std::string corrupt = good;
  corrupt[corrupt.size() / 2] ^= 0x5a;
  write_file_atomic(dir / "corrupt.agm", corrupt);
  write_file_atomic(dir / "foreign.agm", read_file(testing::real_photo(0).first));
  // What was there before stays as it was.
  write_file_atomic(dir / "out.onnx", "old");
  for (const char* name : {"corrupt.agm", "foreign.agm", "missing.agm"}) {
    const fs::path model = dir / name;
    EXPECT_THROW(export_onnx(model, dir / "out.onnx", {}), ModelError) << name;
    const std::string msg = export_error(model, dir / "out.onnx");
    EXPECT_NE(msg.find(model.string()), std::string::npos) << msg;
  }
  EXPECT_EQ(read_file(dir / "out.onnx"), "old");
}

TEST(OnnxExport, AnOutputThatCannotBeWrittenIsNamedAndNothingHalfWrittenStays) {
  const fs::path dir = testing::scratch_dir("onnx_bad_out");
  write_file_atomic(dir / "a-file", "not a folder");
  const fs::path out = dir / "a-file" / "agegate.onnx";
  EXPECT_THROW(export_onnx(shipped_model(), out, {}), IoError);
  const std::string msg = export_error(shipped_model(), out);
  EXPECT_NE(msg.find(out.string()), std::string::npos) << msg;
  // A folder where the file should go.
  fs::create_directories(dir / "folder.onnx");
  EXPECT_THROW(export_onnx(shipped_model(), dir / "folder.onnx", {}), IoError);
  for (const auto& e : fs::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
}

// docs/onnx.md's recipe, written from it and the file's metadata alone
// (not agegate's code): from the exported graph's logits to the estimate,
// interval, P(under legal age) and decision, as agegate gives them.
struct Recipe {
  double estimate, low, high, p_under;
  bool id_check;
};

Recipe consumer_recipe(const std::vector<double>& logits, const nlohmann::json& calibration,
                       const nlohmann::json& policy) {
  const size_t k = logits.size();
  auto softmax = [&](double t) {
    std::vector<double> p(k);
    const double top = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (size_t a = 0; a < k; ++a) sum += p[a] = std::exp((logits[a] - top) / t);
    for (double& v : p) v /= sum;
    return p;
  };
  auto mean = [&](const std::vector<double>& p) {
    double m = 0;
    for (size_t a = 0; a < k; ++a) m += static_cast<double>(a) * p[a];
    return m;
  };
  double t = calibration.at("temperature").get<double>();
  if (calibration.contains("bands")) {
    const double raw = mean(softmax(1.0));
    std::vector<std::pair<double, double>> centres;  // (centre, temperature)
    for (const auto& b : calibration.at("bands")) {
      const int from = b.at("from"), to = b.at("to");
      centres.emplace_back(to - from + 1 > 30 ? from + 7.5 : from + (to - from + 1) / 2.0, b.at("temperature"));
    }
    if (raw <= centres.front().first) {
      t = centres.front().second;
    } else if (raw >= centres.back().first) {
      t = centres.back().second;
    } else {
      for (size_t i = 1; i < centres.size(); ++i) {
        if (raw <= centres[i].first) {
          const double w = (raw - centres[i - 1].first) / (centres[i].first - centres[i - 1].first);
          t = std::exp((1 - w) * std::log(centres[i - 1].second) + w * std::log(centres[i].second));
          break;
        }
      }
    }
  }
  const std::vector<double> p = softmax(t);
  auto quantile = [&](double q) {
    double before = 0;
    for (size_t a = 0; a < k; ++a) {
      if (before + p[a] >= q) return static_cast<double>(a) + (q - before) / p[a];
      before += p[a];
    }
    return static_cast<double>(k);
  };
  const double level = policy.at("interval_level");
  Recipe r;
  r.estimate = mean(p);
  r.low = quantile((1 - level) / 2);
  r.high = quantile(1 - (1 - level) / 2);
  r.p_under = 0;
  for (int a = 0; a < policy.at("legal_age").get<int>(); ++a) r.p_under += p[static_cast<size_t>(a)];
  r.id_check = r.estimate < policy.at("challenge_age").get<double>() || r.p_under > policy.at("max_risk").get<double>();
  return r;
}

TEST(OnnxExport, TheDocumentedRecipeGivesAgegatesIntervalAndDecision) {
  for (bool flip : {false, true}) {
    SCOPED_TRACE(flip ? "flip" : "one pass");
    LoadedModel m = load_model_file(shipped_model(), flip);
    const std::string bytes = onnx_model_bytes(m.net, m.info);
    const auto meta = metadata(parse(bytes));
    const at::Tensor u8 = prepared_photos(m.info.preprocess);
    const Answer onnx = opencv_answer(bytes, u8);
    const Policy policy = Policy::from_json(meta.at("agegate.recommended_policy"));
    const auto dists = to_distributions(libtorch_answer(m, u8).logits, m.info.calibration());
    int id_checks = 0;
    for (int64_t i = 0; i < kPhotos; ++i) {
      const at::Tensor row = onnx.logits[i].to(at::kDouble).contiguous();
      const std::vector<double> logits(row.data_ptr<double>(), row.data_ptr<double>() + row.numel());
      const Recipe r = consumer_recipe(logits, meta.at("agegate.calibration"), meta.at("agegate.recommended_policy"));
      const PolicyResult want = decide(dists[static_cast<size_t>(i)], policy);
      EXPECT_NEAR(r.estimate, want.estimate, 0.01) << "photo " << i;
      EXPECT_NEAR(r.low, want.low, 0.01) << "photo " << i;
      EXPECT_NEAR(r.high, want.high, 0.01) << "photo " << i;
      EXPECT_NEAR(r.p_under, want.p_under_legal, 1e-4) << "photo " << i;
      EXPECT_EQ(r.id_check, want.decision == Decision::kIdCheck) << "photo " << i;
      id_checks += r.id_check;
    }
    // The photos give both decisions, so the rule is exercised both ways.
    EXPECT_GT(id_checks, 0);
    EXPECT_LT(id_checks, kPhotos);
  }
}

// The command: what it wrote, as JSON; the exit codes of the error classes.
TEST(OnnxExportCommand, WritesTheFileAndExitsWithTheErrorsClass) {
  const fs::path dir = testing::scratch_dir("onnx_cli");
  const auto ok = testing::run_agegate("-q export --json --flip-average on --onnx " + (dir / "a.onnx").string());
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const nlohmann::json j = nlohmann::json::parse(ok.out);
  EXPECT_EQ(j.at("onnx"), (dir / "a.onnx").string());
  EXPECT_EQ(j.at("flip_average"), true);
  EXPECT_EQ(j.at("opset"), kOnnxOpset);
  EXPECT_EQ(j.at("bytes").get<int64_t>(), static_cast<int64_t>(fs::file_size(dir / "a.onnx")));
  const std::string photo = testing::real_photo(0).first.string();
  const auto foreign = testing::run_agegate("-q export --model " + photo + " --onnx " + (dir / "b.onnx").string());
  EXPECT_EQ(foreign.exit_code, 4) << foreign.err;  // ModelError
  EXPECT_NE(foreign.err.find(photo), std::string::npos) << foreign.err;
  write_file_atomic(dir / "a-file", "x");
  const fs::path unwritable = dir / "a-file" / "c.onnx";
  const auto io = testing::run_agegate("-q export --onnx " + unwritable.string());
  EXPECT_EQ(io.exit_code, 3) << io.err;  // IoError
  EXPECT_NE(io.err.find(unwritable.string()), std::string::npos) << io.err;
  EXPECT_FALSE(fs::exists(dir / "b.onnx"));
}

}  // namespace
}  // namespace agegate
