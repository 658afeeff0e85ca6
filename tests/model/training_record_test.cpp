// The training record: typed, refuses a key of the wrong type naming it,
// keeps what a newer agegate wrote, reads the shipped model and files
// written before it.
#include "agegate/model/training_record.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/model/model_file.h"
#include "test_support.h"

namespace agegate {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

TrainingRecord full_record() {
  TrainingRecord r;
  r.created = "2026-12-07T10:00:00Z";
  r.version = "0.1.0";
  r.data = {"/data/faces", "0123456789abcdef", 3, 1, 1, {{"train", {"a.jpg", "b.jpg", "c.jpg"}}, {"val", {"d.jpg"}}, {"test", {"e.jpg"}}}};
  r.training = TrainingFacts{{{"val_fraction", 0.2}, {"test_fraction", 0.1}, {"max_photos", 5}, {"backbone", "face_resnet"}},
                             7, "abc123", 4, 6};
  r.metrics.validation = json{{"mae", 5.5}, {"count", 1}};
  r.metrics.test = json{{"mae", 6.25}, {"count", 1}};
  r.groups.test = json{{"by", "sex"}};
  r.calibration = {{"temperature", 0.9}};
  r.recommended_policy = {{"legal_age", 18}, {"challenge_age", 29}};
  r.pretrained_import = {{"source", "face_api_face_recognition"}};
  r.flip_average_choice = {{"on", false}};
  return r;
}

TEST(TrainingRecord, RoundTripsEveryField) {
  const TrainingRecord r = full_record();
  const json j = r.to_json();
  const TrainingRecord back = TrainingRecord::from_json(j, "test");
  EXPECT_EQ(back.to_json(), j);
  EXPECT_EQ(back.data.split.at("val"), std::vector<std::string>{"d.jpg"});
  ASSERT_TRUE(back.training.has_value());
  EXPECT_EQ(back.training->seed, 7u);
  EXPECT_EQ(back.training->best_epoch, 4);
  const SplitParams p = back.training->split_params();
  EXPECT_DOUBLE_EQ(p.val_fraction, 0.2);
  EXPECT_DOUBLE_EQ(p.test_fraction, 0.1);
  EXPECT_EQ(p.seed, 7u);
  EXPECT_EQ(p.max_photos, 5);
  EXPECT_DOUBLE_EQ(back.metrics[RecordPart::kTest]->at("mae").get<double>(), 6.25);
  EXPECT_FALSE(back.metrics[RecordPart::kOutOfFold].has_value());
  EXPECT_TRUE(back.cross_fit.is_null());
}

// Each key of the wrong type is refused with the key's full name and the
// type it should have.
TEST(TrainingRecord, RefusesAWrongTypeNamingTheKey) {
  const json good = full_record().to_json();
  struct Case {
    json::json_pointer at;
    json value;
    std::string key, expected;
  } cases[] = {
      {json::json_pointer("/data/fingerprint"), 3, "'data.fingerprint'", "a string"},
      {json::json_pointer("/data/test_count"), "many", "'data.test_count'", "a whole number"},
      {json::json_pointer("/data/split/val"), "d.jpg", "'data.split.val'", "an array of file names"},
      {json::json_pointer("/training/seed"), 4.5, "'training.seed'", "a whole number"},
      {json::json_pointer("/training/best_epoch"), "4", "'training.best_epoch'", "a whole number"},
      {json::json_pointer("/metrics/test"), json::array(), "'metrics.test'", "an object"},
      {json::json_pointer("/recommended_policy"), "strict", "'recommended_policy'", "an object"},
      {json::json_pointer("/created"), false, "'created'", "a string"},
  };
  for (const auto& c : cases) {
    json bad = good;
    bad[c.at] = c.value;
    try {
      TrainingRecord::from_json(bad, "m.agm: header field 'metadata'");
      ADD_FAILURE() << "accepted " << c.key;
    } catch (const InvalidInput& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("m.agm: header field 'metadata'"), std::string::npos) << what;
      EXPECT_NE(what.find("key " + c.key), std::string::npos) << what;
      EXPECT_NE(what.find("expected " + c.expected), std::string::npos) << what;
    }
  }
  json bad_option = good;
  bad_option["training"]["options"]["val_fraction"] = "a fifth";
  const TrainingRecord r = TrainingRecord::from_json(bad_option, "x");
  try {
    r.training->split_params();
    ADD_FAILURE() << "accepted a text val_fraction";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("'training.options.val_fraction'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(TrainingRecord::from_json(json::array(), "x"), InvalidInput);
}

TEST(TrainingRecord, KeepsTheKeysOfANewerAgegate) {
  json j = full_record().to_json();
  j["distillation"] = {{"teachers", 5}};
  EXPECT_EQ(TrainingRecord::from_json(j, "x").to_json(), j);
}

// The shipped model's record, read through the typed struct: the student of
// the 5-fold cross-fit (scripts/train-default.sh), trained on the whole pool,
// its calibration and policy from the out-of-fold estimates, the seed-42
// held-out part kept out.
TEST(TrainingRecord, ReadsTheShippedModel) {
  const ModelInfo info = read_model_info(fs::path(AGEGATE_TEST_SOURCE_DIR) / "models" / "agegate.agm");
  const TrainingRecord& r = info.record;
  EXPECT_EQ(r.data.fingerprint.size(), 16u);
  EXPECT_EQ(r.data.train_count, 6452);
  EXPECT_EQ(r.data.val_count, 0);
  EXPECT_EQ(r.data.test_count, 1139);
  EXPECT_EQ(r.data.split.at("test").size(), 1139u);
  ASSERT_TRUE(r.training.has_value());
  EXPECT_EQ(r.training->seed, 42u);
  EXPECT_EQ(r.training->options.at("backbone"), "face_resnet");
  EXPECT_EQ(r.cross_fit.at("folds"), 5);
  ASSERT_TRUE(r.metrics.out_of_fold.has_value());
  EXPECT_GT(r.metrics.out_of_fold->at("mae").get<double>(), 3.0);
  EXPECT_LT(r.metrics.out_of_fold->at("mae").get<double>(), 6.0);
  EXPECT_EQ(r.metrics.out_of_fold->at("count"), 6452);
  EXPECT_TRUE(r.recommended_policy.is_object());
  EXPECT_TRUE(r.pretrained_import.is_object());
}

// Re-frames a model file with another header (lengths and CRC as the format says).
void rewrite_header(const fs::path& path, const json& header) {
  const std::string bytes = read_file(path);
  const std::string magic = "AGEGATE-MODEL\n";
  uint64_t json_len = 0;
  std::memcpy(&json_len, bytes.data() + magic.size() + 4, 8);
  const size_t weights_at = magic.size() + 4 + 8 + json_len;
  const std::string rest = bytes.substr(weights_at, bytes.size() - 4 - weights_at);  // weights length + weights
  std::string out = bytes.substr(0, magic.size() + 4);
  const std::string text = header.dump();
  const uint64_t n = text.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += text;
  out += rest;
  const uint32_t crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(out.data()), out.size());
  out.append(reinterpret_cast<const char*>(&crc), 4);
  write_file_atomic(path, out);
}

json header_of(const fs::path& path) {
  const std::string bytes = read_file(path);
  uint64_t json_len = 0;
  std::memcpy(&json_len, bytes.data() + 14 + 4, 8);
  return json::parse(bytes.substr(14 + 4 + 8, json_len));
}

// A header as the first trainers wrote it (no split names, no counts, no
// training facts, metrics with only validation), and one with a key of the
// wrong type: the first loads, the second is refused naming the file and key.
TEST(TrainingRecord, OlderHeadersLoadAndABrokenOneIsRefusedNamingTheKey) {
  ModelInfo info;
  info.config.backbone = Backbone::kResNet18;
  info.config.num_ages = 101;
  info.preprocess.input_size = 64;
  AgeNet net(info.config);
  const fs::path path = testing::scratch_dir("record_old") / "old.agm";
  save_model_file(path, net, info);
  json h = header_of(path);
  h["metadata"] = {{"created", "2026-10-01T08:00:00Z"},
                   {"data", {{"fingerprint", "feedfacefeedface"}}},
                   {"metrics", {{"validation", {{"mae", 7.1}}}}},
                   {"calibration", {{"temperature", 1.2}}}};
  rewrite_header(path, h);
  const ModelInfo old = read_model_info(path);
  EXPECT_EQ(old.record.created, "2026-10-01T08:00:00Z");
  EXPECT_EQ(old.record.data.fingerprint, "feedfacefeedface");
  EXPECT_TRUE(old.record.data.split.empty());
  EXPECT_FALSE(old.record.data.train_count.has_value());
  EXPECT_FALSE(old.record.training.has_value());
  EXPECT_TRUE(old.record.recommended_policy.is_null());
  EXPECT_DOUBLE_EQ(old.record.metrics.validation->at("mae").get<double>(), 7.1);
  EXPECT_NO_THROW(load_model_file(path));

  h["metadata"]["data"]["train_count"] = "5313";
  rewrite_header(path, h);
  try {
    read_model_info(path);
    FAIL() << "accepted a text train_count";
  } catch (const ModelError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path.string()), std::string::npos) << what;
    EXPECT_NE(what.find("'data.train_count'"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace agegate
