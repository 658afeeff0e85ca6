// The face ResNet import (model/tfjs_import.h) against face-api.js itself:
// tests/data/face_descriptors.json holds the 128-d descriptors face-api.js
// computed for six training photos (tools/face-descriptors/make-fixture.js).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/data/image.h"
#include "agegate/data/preprocess.h"
#include "agegate/model/tfjs_import.h"
#include "test_support.h"

namespace agegate {
namespace {

namespace fs = std::filesystem;

// Tolerance. The import dequantises exactly as TF.js does, so the network
// part differs by float rounding only; most of the difference is the JPEG
// decoder (libjpeg-turbo here, jpeg-js there: the crops' mean red differs by
// 0.24-0.27 levels). Measured over the six photos: cosine 0.99990-0.99997,
// max |diff| 0.0021-0.0043 (descriptor entries are up to about +-0.25). A
// different photo's reference is at cosine 0.80-0.90 and max |diff|
// 0.15-0.24, so the bounds tell faces apart (DescriptorsTellThePhotosApart).
constexpr double kMinCosine = 0.9995;
constexpr double kMaxAbsDiff = 0.01;

nlohmann::json fixture() {
  std::ifstream in(fs::path(AGEGATE_TEST_SOURCE_DIR) / "tests/data/face_descriptors.json");
  return nlohmann::json::parse(in);
}

fs::path manifest() { return testing::weights_dir() / kFaceResNetManifest; }

struct Imported {
  std::shared_ptr<BackboneImpl> net;
  at::Tensor fc;
  ImportReport report;
};

Imported import_once() {
  static Imported im = [] {
    Imported r;
    r.net = make_backbone(Backbone::kFaceResNet);
    r.report = import_face_resnet(*r.net, manifest(), &r.fc);
    r.net->eval();
    return r;
  }();
  return im;
}

// Our descriptor for one fixture photo: decode, the same central crop, face-api.js's normalisation.
at::Tensor our_descriptor(const nlohmann::json& photo, std::array<double, 3>* pixel_mean = nullptr) {
  Image img = read_image(testing::faces_dir() / "final_files" / photo["file"].get<std::string>());
  const auto crop = photo["crop"].get<std::vector<int64_t>>();
  at::Tensor chw = image_to_tensor(img).narrow(2, crop[0], crop[2]).narrow(1, crop[1], crop[3]).to(at::kFloat);
  if (pixel_mean) {
    for (int c = 0; c < 3; ++c) (*pixel_mean)[c] = chw[c].mean().item<double>();
  }
  at::Tensor mean = at::tensor(std::vector<float>(kFaceResNetMeanRgb.begin(), kFaceResNetMeanRgb.end()));
  at::Tensor x = ((chw - mean.view({3, 1, 1})) / kFaceResNetDivisor).unsqueeze(0);
  c10::InferenceMode guard;
  auto im = import_once();
  return im.net->forward(x).mm(im.fc)[0];
}

at::Tensor reference(const nlohmann::json& photo) {
  auto d = photo["descriptor"].get<std::vector<float>>();
  return at::tensor(d);
}

double cosine(const at::Tensor& a, const at::Tensor& b) {
  return (a.dot(b) / (a.norm() * b.norm())).item<double>();
}

TEST(FaceResNetImport, FillsEveryConvAndRecordsBothFilesSha256) {
  auto im = import_once();
  EXPECT_EQ(im.report.convs, kFaceResNetConvs);
  EXPECT_EQ(im.report.linears, 1);
  EXPECT_EQ(im.report.source, "face_api_face_recognition");
  EXPECT_EQ(im.report.sha256, fixture()["weights_manifest_sha256"].get<std::string>());
  EXPECT_EQ(im.report.data_sha256.size(), 64u);
  EXPECT_TRUE(im.report.sha256_checked) << "listed in ../shared/weights/SHA256SUMS one folder up";
  EXPECT_TRUE(im.report.data_sha256_checked);
  EXPECT_EQ(im.fc.sizes(), (std::vector<int64_t>{256, 128}));
  EXPECT_EQ(im.net->feature_dim(), 256);
}

TEST(FaceResNetImport, ReproducesFaceApiDescriptorsOnRealPhotos) {
  const auto fx = fixture();
  ASSERT_EQ(fx["photos"].size(), 6u);
  for (const auto& photo : fx["photos"]) {
    std::array<double, 3> mean{};
    at::Tensor ours = our_descriptor(photo, &mean);
    at::Tensor ref = reference(photo);
    const double cos = cosine(ours, ref);
    const double diff = (ours - ref).abs().max().item<double>();
    std::cerr << photo["file"].get<std::string>() << ": cosine " << cos << ", max |diff| " << diff
              << ", pixel mean R " << mean[0] << " vs " << photo["pixel_mean"][0].get<double>() << "\n";
    EXPECT_GE(cos, kMinCosine) << photo["file"];
    EXPECT_LE(diff, kMaxAbsDiff) << photo["file"];
  }
}

TEST(FaceResNetImport, DescriptorsTellThePhotosApart) {
  const auto photos = fixture()["photos"];
  for (size_t i = 0; i < photos.size(); ++i) {
    at::Tensor ours = our_descriptor(photos[i]);
    at::Tensor other = reference(photos[(i + 1) % photos.size()]);
    const double cos = cosine(ours, other);
    const double diff = (ours - other).abs().max().item<double>();
    std::cerr << "photo " << i << " vs the next one's reference: cosine " << cos << ", max |diff| " << diff << "\n";
    EXPECT_FALSE(cos >= kMinCosine && diff <= kMaxAbsDiff);
  }
}

// The raw TF.js reader on its own: dequantisation as TF.js does it.
TEST(TfjsWeights, DequantisesAsTensorFlowJs) {
  const auto dir = testing::scratch_dir("tfjs");
  const std::string bin = {char(0), char(1), char(255), char(10)};
  float f = 1.5f;
  std::string bytes = bin + std::string(reinterpret_cast<const char*>(&f), sizeof f);
  write_file_atomic(dir / "w.bin", bytes);
  write_file_atomic(dir / "m.json", R"([{"paths":["w.bin"],"weights":[
      {"name":"a","shape":[2,2],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.5,"min":-1}},
      {"name":"b","shape":[1],"dtype":"float32"}]}])");
  auto t = read_tfjs_weights(dir / "m.json");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].name, "a");
  EXPECT_TRUE(t[0].quantized);
  EXPECT_EQ(t[0].value.sizes(), (std::vector<int64_t>{2, 2}));
  EXPECT_FLOAT_EQ(t[0].value[0][0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(t[0].value[0][1].item<float>(), -0.5f);
  EXPECT_FLOAT_EQ(t[0].value[1][0].item<float>(), 126.5f);
  EXPECT_FLOAT_EQ(t[0].value[1][1].item<float>(), 4.0f);
  EXPECT_FALSE(t[1].quantized);
  EXPECT_FLOAT_EQ(t[1].value[0].item<float>(), 1.5f);
}

TEST(TfjsWeights, BadFilesAreModelErrorsNamingTheFileAndTensor) {
  const auto dir = testing::scratch_dir("tfjs_bad");
  auto expect_error = [&](const std::string& manifest_text, const std::string& bin, const std::string& needle) {
    write_file_atomic(dir / "w.bin", bin);
    write_file_atomic(dir / "m.json", manifest_text);
    try {
      read_tfjs_weights(dir / "m.json");
      ADD_FAILURE() << "no error for " << needle;
    } catch (const ModelError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("m.json"), std::string::npos) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << what;
    }
  };
  const std::string q = R"("quantization":{"dtype":"uint8","scale":1,"min":0})";
  expect_error(R"([{"paths":["w.bin"],"weights":[{"name":"short","shape":[8],"dtype":"float32",)" + q + "}]}]",
               "abc", "'short': the weights file ends inside it");
  expect_error(R"([{"paths":["w.bin"],"weights":[{"name":"x","shape":[2],"dtype":"float32",)" + q + "}]}]",
               "abcd", "2 bytes of its weights unread");
  expect_error(R"([{"paths":["w.bin"],"weights":[{"name":"h","shape":[1],"dtype":"float32",
               "quantization":{"dtype":"float16"}}]}])", "ab", "'h': quantisation dtype 'float16'");
  expect_error(R"([{"paths":["../w.bin"],"weights":[]}])", "", "leaves the manifest's folder");
  expect_error("{not json", "", "not a TensorFlow.js weights manifest");
  expect_error(R"([{"paths":["missing.bin"],"weights":[]}])", "", "shard 'missing.bin'");
}

TEST(TfjsWeights, AManifestOfAnotherNetworkIsRefused) {
  // The MobileFace graph model's weights fit nothing of the face ResNet.
  auto net = make_backbone(Backbone::kFaceResNet);
  const auto dir = testing::scratch_dir("tfjs_foreign");
  write_file_atomic(dir / "w.bin", std::string(4, '\0'));
  write_file_atomic(dir / "m.json", R"([{"paths":["w.bin"],"weights":[{"name":"conv1/filters","shape":[1],"dtype":"float32"}]}])");
  try {
    import_face_resnet(*net, dir / "m.json");
    FAIL() << "no exception";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("'conv1/filters' has no counterpart"), std::string::npos) << e.what();
  }
  auto mnv2 = make_backbone(Backbone::kMobileNetV2);
  EXPECT_THROW(import_face_resnet(*mnv2, manifest()), ModelError);
}

}  // namespace
}  // namespace agegate

namespace agegate {
namespace {

TEST(FaceResNet, TooSmallAnInputIsAClearError) {
  auto net = make_backbone(Backbone::kFaceResNet);
  EXPECT_EQ(net->forward(at::zeros({1, 3, kFaceResNetMinInput, kFaceResNetMinInput})).sizes(),
            (std::vector<int64_t>{1, 256}));
  try {
    net->forward(at::zeros({1, 3, kFaceResNetMinInput - 1, kFaceResNetMinInput - 1}));
    FAIL() << "no exception";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("S >= 103"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace agegate
