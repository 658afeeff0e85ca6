// The .agm model file: round trip, and every kind of bad file.
#include <gtest/gtest.h>
#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <zlib.h>

#include <fstream>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/model/imagenet_import.h"
#include "agegate/model/model_file.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;

ModelInfo sample_info(const std::string& backbone) {
  ModelInfo info;
  info.config.backbone = parse_backbone(backbone);
  info.config.num_ages = 101;
  info.preprocess.input_size = 96;
  info.temperature = 1.7;
  info.record.metrics.validation = nlohmann::json{{"mae", 6.5}};
  info.record.data.dir = "faces";
  info.record.data.train_count = 7591;
  return info;
}

// Saves a small random resnet18 model (has BN buffers) and returns its path.
fs::path saved_model(const std::string& dir, AgeNet* out_net = nullptr) {
  ModelInfo info = sample_info("resnet18");
  AgeNet net(info.config);
  {
    torch::NoGradGuard no_grad;
    // Make buffers non-default so the round trip has to carry them.
    for (auto& b : net->named_buffers()) {
      if (b.value().is_floating_point()) b.value().uniform_(0.5, 1.5);
    }
  }
  fs::path path = testing::scratch_dir(dir) / "m.agm";
  save_model_file(path, net, info);
  if (out_net) *out_net = net;
  return path;
}

std::string load_error(const fs::path& path) {
  try {
    load_model_file(path);
  } catch (const ModelError& e) {
    return e.what();
  }
  return "(no ModelError)";
}

void expect_error(const fs::path& path, const std::string& fragment) {
  const std::string msg = load_error(path);
  EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
  EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
}

TEST(ModelFile, RoundTripGivesIdenticalOutputsAndMetadata) {
  AgeNet net{nullptr};
  fs::path path = saved_model("rt", &net);
  net->eval();
  LoadedModel loaded = load_model_file(path);
  EXPECT_FALSE(loaded.net->is_training());
  EXPECT_EQ(loaded.info.config.backbone, Backbone::kResNet18);
  EXPECT_EQ(loaded.info.preprocess.input_size, 96);
  EXPECT_DOUBLE_EQ(loaded.info.temperature, 1.7);
  EXPECT_EQ(loaded.info.record.to_json(), sample_info("resnet18").record.to_json());
  torch::NoGradGuard no_grad;
  at::Tensor x = at::randn({2, 3, 64, 64});
  EXPECT_TRUE(at::equal(net->forward(x), loaded.net->forward(x)));

  ModelInfo header = read_model_info(path);
  EXPECT_EQ(header.config.backbone, Backbone::kResNet18);
  EXPECT_EQ(header.record.to_json(), loaded.info.record.to_json());
}

TEST(ModelFile, MobileNetRoundTripIsBitExact) {
  ModelInfo info = sample_info("mobilenet_v2");
  AgeNet net(info.config);
  net->eval();
  fs::path path = testing::scratch_dir("mnv2") / "m.agm";
  save_model_file(path, net, info);
  LoadedModel loaded = load_model_file(path);
  torch::NoGradGuard no_grad;
  at::Tensor x = at::randn({1, 3, 64, 64});
  EXPECT_TRUE(at::equal(net->forward(x), loaded.net->forward(x)));
}

TEST(ModelFile, MissingFile) { expect_error(testing::scratch_dir("missing") / "none.agm", "not found"); }

TEST(ModelFile, TruncatedFile) {
  fs::path path = saved_model("trunc");
  std::string bytes = read_file(path);
  for (size_t keep : {bytes.size() - 1, bytes.size() / 2, size_t(20)}) {
    write_file_atomic(path, bytes.substr(0, keep));
    expect_error(path, "truncated: expected ");
    EXPECT_NE(load_error(path).find("found " + std::to_string(keep)), std::string::npos);
    if (keep > 40) {
      EXPECT_THROW(read_model_info(path), ModelError);
    }
  }
}

TEST(ModelFile, FlippedByteIsCorrupt) {
  fs::path path = saved_model("flip");
  std::string bytes = read_file(path);
  for (size_t at : {bytes.size() / 2, bytes.size() - 10, size_t(40)}) {
    std::string bad = bytes;
    bad[at] = static_cast<char>(bad[at] ^ 0x5a);
    write_file_atomic(path, bad);
    expect_error(path, "corrupt");
  }
}

TEST(ModelFile, ForeignFiles) {
  fs::path dir = testing::scratch_dir("foreign");
  fs::path jpeg = dir / "photo.agm";
  fs::copy_file(testing::real_photo(3).first, jpeg);
  expect_error(jpeg, "not an agegate model file");
  fs::path ts = dir / "mobilenet.agm";
  fs::copy_file(testing::weights_dir() / kMobileNetFile, ts);
  expect_error(ts, "not an agegate model file");
  fs::path empty = dir / "empty.agm";
  write_file_atomic(empty, "");
  expect_error(empty, "not an agegate model file");
  EXPECT_THROW(read_model_info(jpeg), ModelError);
}

TEST(ModelFile, WrongMagicAndNewerVersion) {
  fs::path path = saved_model("magic");
  std::string bytes = read_file(path);
  std::string bad = bytes;
  bad[0] = 'X';
  write_file_atomic(path, bad);
  expect_error(path, "not an agegate model file");
  bad = bytes;
  bad[14] = static_cast<char>(kModelFormatVersion + 1);  // u32 version follows the 14-byte magic
  write_file_atomic(path, bad);
  expect_error(path, "newer");
  EXPECT_THROW(read_model_info(path), ModelError);
}

// Re-frames a header and weights blob into a valid file (correct lengths and CRC).
std::string frame(const std::string& json, const std::string& weights, const std::string& like) {
  std::string out = like.substr(0, 18);  // magic + version
  auto put = [&](uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  put(json.size(), 8);
  out += json;
  put(weights.size(), 8);
  out += weights;
  uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(out.data()), out.size());
  put(crc, 4);
  return out;
}

struct Parts {
  std::string json, weights, bytes;
};
Parts split(const fs::path& path) {
  Parts p;
  p.bytes = read_file(path);
  auto le = [&](size_t off) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t(uint8_t(p.bytes[off + i])) << (8 * i);
    return v;
  };
  uint64_t jl = le(18);
  p.json = p.bytes.substr(26, jl);
  uint64_t wl = le(26 + jl);
  p.weights = p.bytes.substr(34 + jl, wl);
  return p;
}

TEST(ModelFile, WeightsThatDoNotFitTheArchitecture) {
  fs::path path = saved_model("fit");
  Parts p = split(path);
  // Same weights, header claims resnet34: layers are missing.
  auto j = nlohmann::json::parse(p.json);
  j["config"]["backbone"] = "resnet34";
  write_file_atomic(path, frame(j.dump(), p.weights, p.bytes));
  expect_error(path, "is missing");
  // Header claims 50 ages: the head has the wrong shape.
  j = nlohmann::json::parse(p.json);
  j["config"]["num_ages"] = 50;
  write_file_atomic(path, frame(j.dump(), p.weights, p.bytes));
  expect_error(path, "head.weight' has shape");
  // resnet18 weights under a mobilenet_v2 header.
  j = nlohmann::json::parse(p.json);
  j["config"]["backbone"] = "mobilenet_v2";
  write_file_atomic(path, frame(j.dump(), p.weights, p.bytes));
  expect_error(path, "weight '");
}

TEST(ModelFile, BadHeader) {
  fs::path path = saved_model("hdr");
  Parts p = split(path);
  write_file_atomic(path, frame("{not json", p.weights, p.bytes));
  expect_error(path, "bad JSON header");
  auto j = nlohmann::json::parse(p.json);
  j["config"]["backbone"] = "alexnet";
  write_file_atomic(path, frame(j.dump(), p.weights, p.bytes));
  expect_error(path, "backbone");
  j = nlohmann::json::parse(p.json);
  j["temperature"] = -1;
  write_file_atomic(path, frame(j.dump(), p.weights, p.bytes));
  expect_error(path, "temperature");
  write_file_atomic(path, frame(p.json, "garbage, not a pickle", p.bytes));
  expect_error(path, "weights");
}

TEST(ModelFile, CarriesTheFaceCropGeometryAndDefaultsItForOlderFiles) {
  ModelInfo info = sample_info("mobilenet_v2");
  info.preprocess.face_crop.side_per_box = 0.8f;
  info.preprocess.face_crop.centre_dy = 0.1f;
  AgeNet net(info.config);
  fs::path path = testing::scratch_dir("crop") / "m.agm";
  save_model_file(path, net, info);
  const CropGeometry g = read_model_info(path).preprocess.face_crop;
  EXPECT_FLOAT_EQ(g.side_per_box, 0.8f);
  EXPECT_FLOAT_EQ(g.centre_dy, 0.1f);
  EXPECT_EQ(g.output_size, CropGeometry{}.output_size);

  // A spec written before the field existed reads back the measured geometry.
  nlohmann::json old = info.preprocess.to_json();
  old.erase("face_crop");
  EXPECT_FLOAT_EQ(PreprocessSpec::from_json(old).face_crop.side_per_box, CropGeometry{}.side_per_box);
  nlohmann::json bad = info.preprocess.to_json();
  bad["face_crop"]["side_per_box"] = -1;
  EXPECT_THROW(PreprocessSpec::from_json(bad), ModelError);
  bad["face_crop"] = nlohmann::json::object();
  EXPECT_THROW(PreprocessSpec::from_json(bad), ModelError);
}

}  // namespace
}  // namespace agegate

namespace agegate {
namespace {

TEST(ModelFile, FaceResNetWithBandCalibrationAndFlipRoundTrips) {
  ModelInfo info = sample_info("face_resnet");
  info.preprocess.input_size = 112;
  info.preprocess.flip_average = true;
  info.preprocess.mean = {0.48f, 0.46f, 0.41f};
  info.preprocess.std = {1.004f, 1.004f, 1.004f};
  info.temperature_bands = {{0, 12, 0.8}, {13, 17, 1.3}, {60, 100, 1.9}};
  info.record.pretrained_import = {{"source", "face_api_face_recognition"}, {"sha256", std::string(64, 'a')}};
  AgeNet net(info.config);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.uniform_(-0.1, 0.1);  // every parameter must travel
  }
  net->eval();
  const fs::path path = testing::scratch_dir("face_resnet_rt") / "m.agm";
  save_model_file(path, net, info);
  LoadedModel loaded = load_model_file(path);
  EXPECT_EQ(loaded.info.config.backbone, Backbone::kFaceResNet);
  EXPECT_TRUE(loaded.info.preprocess.flip_average);
  EXPECT_EQ(loaded.info.preprocess.std, info.preprocess.std);
  ASSERT_EQ(loaded.info.temperature_bands.size(), 3u);
  EXPECT_EQ(loaded.info.temperature_bands[1].from, 13);
  EXPECT_EQ(loaded.info.temperature_bands[1].to, 17);
  EXPECT_DOUBLE_EQ(loaded.info.temperature_bands[1].temperature, 1.3);
  EXPECT_DOUBLE_EQ(loaded.info.calibration().temperature_for(15.5), 1.3);  // the 13-17 band's centre
  EXPECT_DOUBLE_EQ(loaded.info.calibration().temperature_for(80.0), 1.9);
  EXPECT_EQ(loaded.info.record.pretrained_import["source"], "face_api_face_recognition");
  torch::NoGradGuard no_grad;
  at::Tensor x = at::randn({2, 3, 112, 112});
  EXPECT_TRUE(at::equal(net->forward(x), loaded.net->forward(x)));
  // A file from before these fields: no bands, no flip.
  ModelInfo old = sample_info("resnet18");
  AgeNet old_net(old.config);
  const fs::path old_path = testing::scratch_dir("face_resnet_rt_old") / "m.agm";
  save_model_file(old_path, old_net, old);
  ModelInfo back = read_model_info(old_path);
  EXPECT_TRUE(back.temperature_bands.empty());
  EXPECT_FALSE(back.preprocess.flip_average);
}

// One file for the till and for accuracy: both inference settings, each
// with its own calibration and retuned policy; the top level is the default.
TEST(ModelFile, OneFileHoldsBothFlipSettingsWithTheirOwnCalibrationAndPolicy) {
  ModelInfo info = sample_info("resnet18");
  InferenceVariant one_pass, flipped;
  one_pass.flip_average = false;
  one_pass.temperature = 1.25;
  one_pass.temperature_bands = {{0, 12, 0.7}, {13, 17, 1.4}};
  one_pass.recommended_policy = {{"legal_age", 18}, {"challenge_age", 27}, {"max_risk", 0.02}, {"interval_level", 0.9}};
  flipped.flip_average = true;
  flipped.temperature = 0.85;
  flipped.recommended_policy = {{"legal_age", 18}, {"challenge_age", 32}, {"max_risk", 0.05}, {"interval_level", 0.9}};
  info.variants = {one_pass, flipped};
  info.preprocess.flip_average = false;  // the default in force: one pass
  info.temperature = one_pass.temperature;
  info.temperature_bands = one_pass.temperature_bands;
  info.record.recommended_policy = one_pass.recommended_policy;
  AgeNet net(info.config);
  const fs::path path = testing::scratch_dir("variants") / "m.agm";
  save_model_file(path, net, info);

  LoadedModel plain = load_model_file(path);
  EXPECT_FALSE(plain.info.preprocess.flip_average);
  EXPECT_DOUBLE_EQ(plain.info.temperature, 1.25);
  ASSERT_EQ(plain.info.temperature_bands.size(), 2u);
  EXPECT_EQ(plain.info.record.recommended_policy["challenge_age"], 27);
  EXPECT_EQ(plain.info.flip_settings(), (std::vector<bool>{false, true}));

  LoadedModel flip = load_model_file(path, true);
  EXPECT_TRUE(flip.info.preprocess.flip_average);
  EXPECT_DOUBLE_EQ(flip.info.temperature, 0.85);
  EXPECT_TRUE(flip.info.temperature_bands.empty());
  EXPECT_EQ(flip.info.record.recommended_policy["challenge_age"], 32);
  EXPECT_DOUBLE_EQ(flip.info.calibration().temperature_for(40.0), 0.85);
  EXPECT_DOUBLE_EQ(plain.info.calibration().temperature_for(15.5), 1.4);
  // The header-only read selects the same way, and off is selectable explicitly.
  EXPECT_DOUBLE_EQ(read_model_info(path, true).temperature, 0.85);
  EXPECT_DOUBLE_EQ(read_model_info(path, false).temperature, 1.25);
  // Same weights either way.
  torch::NoGradGuard no_grad;
  at::Tensor x = at::randn({1, 3, 96, 96});
  EXPECT_TRUE(at::equal(plain.net->forward(x), flip.net->forward(x)));
  EXPECT_EQ(parse_on_off("on", "--flip-average"), true);
  EXPECT_THROW(parse_on_off("auto", "--flip-average"), InvalidInput);
}

TEST(ModelFile, AFileWithOneSettingRefusesTheOtherNamingIt) {
  ModelInfo info = sample_info("resnet18");  // written as before: no variants
  info.preprocess.flip_average = true;
  AgeNet net(info.config);
  const fs::path path = testing::scratch_dir("variants_old") / "m.agm";
  save_model_file(path, net, info);
  EXPECT_TRUE(load_model_file(path, true).info.preprocess.flip_average);
  EXPECT_EQ(read_model_info(path).flip_settings(), std::vector<bool>{true});
  try {
    load_model_file(path, false);
    ADD_FAILURE() << "a setting the file was not calibrated for";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("flip averaging off"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  // A broken variants list is a clear error naming the field.
  Parts p = split(path);
  auto j = nlohmann::json::parse(p.json);
  j["inference_variants"] = {{{"flip_average", "yes"}, {"temperature", 1.0}}};
  write_file_atomic(path, frame(j.dump(), p.weights, p.bytes));
  expect_error(path, "inference_variants");
}

// Face ResNet files written before the scale layers were folded into the
// convolutions (the shipped models of that time) load into the folded network
// with the same function.
TEST(ModelFile, FaceResNetFilesWithSeparateScaleLayersLoadFolded) {
  ModelInfo info = sample_info("face_resnet");
  info.preprocess.input_size = 112;
  AgeNet net(info.config);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.uniform_(-0.1, 0.1);
  }
  net->eval();
  const fs::path path = testing::scratch_dir("face_resnet_unfolded") / "m.agm";
  save_model_file(path, net, info);
  // Unfold every conv into conv + scale (w / s, (b - t) / s; s, t) as the old layout stored them.
  Parts parts = split(path);
  auto dict = torch::jit::pickle_load(std::vector<char>(parts.weights.begin(), parts.weights.end())).toGenericDict();
  c10::Dict<std::string, at::Tensor> old;
  int scales = 0;
  for (const auto& e : dict) {
    const std::string name = e.key().toStringRef();
    const at::Tensor t = e.value().toTensor();
    const std::string tail = ".conv.weight";
    if (name.size() > tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0) {
      const std::string layer = name.substr(0, name.size() - tail.size());
      const at::Tensor s = at::rand({t.size(0)}) + 0.5, sh = at::randn({t.size(0)}) * 0.1;
      const at::Tensor b = dict.at(layer + ".conv.bias").toTensor();
      old.insert_or_assign(name, t / s.view({-1, 1, 1, 1}));
      old.insert_or_assign(layer + ".conv.bias", (b - sh) / s);  // the bias may have come first
      old.insert(layer + ".scale.weights", s);
      old.insert(layer + ".scale.biases", sh);
      ++scales;
    } else if (!old.contains(name)) {
      old.insert(name, t);  // a conv bias already written unfolded stays
    }
  }
  EXPECT_EQ(scales, 29);
  const std::vector<char> blob = torch::jit::pickle_save(c10::IValue(old));
  write_file_atomic(path, frame(parts.json, std::string(blob.begin(), blob.end()), parts.bytes));
  LoadedModel loaded = load_model_file(path);
  torch::NoGradGuard no_grad;
  at::Tensor x = at::randn({2, 3, 112, 112});
  const at::Tensor want = net->forward(x), got = loaded.net->forward(x);
  // Random weights without batch-norm give logits in the thousands: the slack is relative to them.
  const double scale = want.abs().max().item<double>();
  EXPECT_TRUE(at::allclose(want, got, 1e-5, 1e-5 * scale)) << "max |diff| " << (want - got).abs().max().item<double>()
                                                   << " of max |logit| " << want.abs().max().item<double>();
  // A scale layer without its convolution is a clear error.
  old.erase("backbone.conv32_down.conv.weight");
  const std::vector<char> broken = torch::jit::pickle_save(c10::IValue(old));
  write_file_atomic(path, frame(parts.json, std::string(broken.begin(), broken.end()), parts.bytes));
  expect_error(path, "conv32_down.conv.weight");
}

TEST(ModelFile, OverlappingTemperatureBandsAreRefusedNamingTheField) {
  ModelInfo info = sample_info("resnet18");
  info.temperature_bands = {{0, 20, 1.0}, {13, 30, 1.2}};
  AgeNet net(info.config);
  const fs::path path = testing::scratch_dir("bad_bands") / "m.agm";
  save_model_file(path, net, info);
  expect_error(path, "temperature_bands");
}

}  // namespace
}  // namespace agegate
