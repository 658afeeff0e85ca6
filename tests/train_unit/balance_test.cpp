// Group-balanced loss weights (train/balance.h) and the weighted loss.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <map>

#include "agegate/core/error.h"
#include "agegate/train/balance.h"
#include "agegate/train/loss.h"

namespace agegate {
namespace {

// 30 adults aged 30: 20 women, 10 men; 10 children aged 8: 5 and 5; 4 adults without an annotation.
struct Toy {
  std::vector<LabelRow> rows;
  GroupTable groups;
};
Toy toy() {
  Toy t;
  t.groups.source = "demographics.csv";
  t.groups.columns = {"sex", "ethnicity"};
  auto add = [&](const std::string& name, int age, const std::string& sex) {
    t.rows.push_back({name, name, age, 0});
    if (!sex.empty()) t.groups.values[name] = {sex, "x"};
  };
  for (int i = 0; i < 20; ++i) add("w" + std::to_string(i), 30, "female");
  for (int i = 0; i < 10; ++i) add("m" + std::to_string(i), 30, "male");
  for (int i = 0; i < 5; ++i) add("g" + std::to_string(i), 8, "female");
  for (int i = 0; i < 5; ++i) add("b" + std::to_string(i), 8, "male");
  for (int i = 0; i < 4; ++i) add("u" + std::to_string(i), 30, "");
  return t;
}

TEST(GroupBalance, EachGroupWeighsTheSameWithinItsAgeBandAndTheMeanIsOne) {
  const Toy t = toy();
  const std::vector<double> w = group_balance_weights(t.rows, t.groups, {"sex"});
  ASSERT_EQ(w.size(), t.rows.size());
  std::map<std::string, double> total;  // band/sex -> summed weight
  double sum = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    sum += w[i];
    const auto it = t.groups.values.find(t.rows[i].file_name);
    if (it != t.groups.values.end()) total[std::to_string(t.rows[i].age) + it->second[0]] += w[i];
  }
  EXPECT_NEAR(sum / w.size(), 1.0, 1e-9);
  EXPECT_NEAR(total["30female"], total["30male"], 1e-9);  // 20 women weigh what 10 men weigh
  EXPECT_NEAR(total["8female"], total["8male"], 1e-9);    // already balanced: unchanged relative to each other
  EXPECT_NEAR(w[0] * 2, w[20], 1e-9);                     // a man aged 30 counts twice a woman aged 30
  EXPECT_NEAR(w[30], w[35], 1e-9);
  EXPECT_NEAR(w[40], w[41], 1e-9);  // unannotated photos keep one weight
}

TEST(GroupBalance, CapsRareCellsAndNamesAMissingColumn) {
  Toy t = toy();
  for (int i = 0; i < 200; ++i) {  // 220 women against 10 men aged 30: uncapped, a man would weigh 22 women
    const std::string n = "x" + std::to_string(i);
    t.rows.push_back({n, n, 30, 0});
    t.groups.values[n] = {"female", "x"};
  }
  const std::vector<double> w = group_balance_weights(t.rows, t.groups, {"sex"});
  // In the band: 230 annotated photos, 2 groups. A woman gets 230 / (2 * 220); a man's 230 / (2 * 10) = 11.5 is capped at 5.
  EXPECT_NEAR(w[20] / w[0], kMaxBalanceWeight / (230.0 / (2 * 220)), 1e-6);
  try {
    group_balance_weights(t.rows, t.groups, {"age_group"});
    ADD_FAILURE() << "a column the file lacks";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("age_group"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("sex, ethnicity"), std::string::npos) << e.what();
  }
}

TEST(GroupBalance, TheWeightedLossIsTheWeightedMeanOfThePhotosLosses) {
  const at::Tensor logits = at::randn({3, 101});
  const at::Tensor ages = at::tensor({10.0f, 40.0f, 70.0f});
  AgeLossOptions o;
  auto one = [&](int i) { return age_loss(logits.narrow(0, i, 1), ages.narrow(0, i, 1), o).loss.item<double>(); };
  const double unweighted = age_loss(logits, ages, o).loss.item<double>();
  EXPECT_NEAR(unweighted, (one(0) + one(1) + one(2)) / 3, 1e-4);
  const double weighted = age_loss(logits, ages, o, {}, at::tensor({2.0f, 1.0f, 1.0f})).loss.item<double>();
  EXPECT_NEAR(weighted, (2 * one(0) + one(1) + one(2)) / 4, 1e-4);
  EXPECT_NEAR(age_loss(logits, ages, o, {}, at::ones({3})).loss.item<double>(), unweighted, 1e-5);
  EXPECT_THROW(age_loss(logits, ages, o, {}, at::ones({2})), InvalidInput);
}

}  // namespace
}  // namespace agegate
