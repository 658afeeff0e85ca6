// `--split model`: the split a model's training record names, or the one its
// options (or the trainer's defaults, for files that state none) redraw.
#include <gtest/gtest.h>

#include "agegate/core/error.h"
#include "agegate/eval/evaluate.h"
#include "agegate/model/model_file.h"

namespace agegate {
namespace {

std::vector<LabelRow> rows(int n) {
  std::vector<LabelRow> out;
  for (int i = 0; i < n; ++i) out.push_back({"p" + std::to_string(i) + ".jpg", "/none", 1 + (i * 7) % 80, i + 2});
  return out;
}

std::vector<std::string> names(const std::vector<LabelRow>& part) {
  std::vector<std::string> out;
  for (const auto& r : part) out.push_back(r.file_name);
  return out;
}

TEST(ModelSplit, AFileWithoutTrainingFactsRedrawsTheTrainersDefaultSplit) {
  ModelInfo info;  // as written before the record held the training facts
  const Split expected = stratified_split(rows(200), kDefaultValFraction, kDefaultTestFraction, kDefaultSplitSeed);
  info.record.data.fingerprint = data_fingerprint(expected.all());
  const ModelSplit m = model_split(info, rows(200));
  EXPECT_EQ(names(m.split.test), names(expected.test));
  EXPECT_EQ(names(m.split.val), names(expected.val));
  EXPECT_TRUE(m.same_data);
  info.record.data.fingerprint = "0000000000000000";
  EXPECT_FALSE(model_split(info, rows(200)).same_data);
}

TEST(ModelSplit, TheRecordedOptionsAndNamesWin) {
  ModelInfo info;
  info.record.training = TrainingFacts{{{"val_fraction", 0.3}, {"test_fraction", 0.2}, {"max_photos", 150}}, 9, "", {}, {}};
  const Split expected = stratified_split(rows(150), 0.3, 0.2, 9);
  EXPECT_EQ(names(model_split(info, rows(200)).split.test), names(expected.test));
  // Names recorded (a split read from a file, a fold of a cross-fit): those, in their order.
  info.record.data.split = {{"train", {"p3.jpg", "p1.jpg"}}, {"val", {"p2.jpg"}}, {"test", {"p9.jpg", "p0.jpg"}}};
  const ModelSplit m = model_split(info, rows(200));
  EXPECT_EQ(names(m.split.train), (std::vector<std::string>{"p3.jpg", "p1.jpg"}));
  EXPECT_EQ(names(m.split.test), (std::vector<std::string>{"p9.jpg", "p0.jpg"}));
}

}  // namespace
}  // namespace agegate

#include "agegate/core/enum_names.h"
#include "agegate/eval/validation_fit.h"

namespace agegate {
namespace {

TEST(FlipChoice, NamesParseBackAndAnOtherValueNamesTheOption) {
  for (FlipChoice c : kFlipChoices) EXPECT_EQ(parse_enum_name(to_string(c), kFlipChoices, "option --flip-average"), c);
  try {
    parse_enum_name(std::string("yes"), kFlipChoices, "option --flip-average");
    FAIL() << "accepted yes";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(std::string(e.what()), "option --flip-average 'yes': not one of off, on, auto");
  }
}

}  // namespace
}  // namespace agegate
