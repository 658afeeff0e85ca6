// The preprocessing path, augmentation, and the loader (including the proof
// that training batches hold exactly what predict/serve would compute).
#include <ATen/Context.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/flip.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/stack.h>
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <map>
#include <thread>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/log.h"
#include "agegate/data/augment.h"
#include "agegate/data/labels.h"
#include "agegate/data/loader.h"
#include "agegate/data/preprocess.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;
using testing::faces_dir;
using testing::make_mini_dataset;
using testing::real_photo;

TEST(Preprocess, SpecJsonRoundTripAndValidation) {
  PreprocessSpec s;
  s.input_size = 128;
  s.crop = 0.9f;
  s.mean = {0.5f, 0.4f, 0.3f};
  PreprocessSpec back = PreprocessSpec::from_json(s.to_json());
  EXPECT_EQ(back.input_size, 128);
  EXPECT_FLOAT_EQ(back.crop, 0.9f);
  EXPECT_EQ(back.mean, s.mean);
  EXPECT_EQ(back.std, s.std);

  auto j = s.to_json();
  j["input_size"] = 16;
  EXPECT_THROW(PreprocessSpec::from_json(j), ModelError);
  j = s.to_json();
  j.erase("mean");
  EXPECT_THROW(PreprocessSpec::from_json(j), ModelError);
  j = s.to_json();
  j["color_order"] = "BGR";
  EXPECT_THROW(PreprocessSpec::from_json(j), ModelError);
  EXPECT_THROW(PreprocessSpec::from_json(nlohmann::json::array()), ModelError);

  PreprocessSpec bad;
  bad.std[1] = 0.0f;
  EXPECT_THROW(bad.validate(), InvalidInput);
  bad = PreprocessSpec{};
  bad.crop = 0.0f;
  EXPECT_THROW(bad.validate(), InvalidInput);
  bad.crop = 1.5f;
  EXPECT_THROW(bad.validate(), InvalidInput);
  bad = PreprocessSpec{};
  bad.input_size = 2048;
  EXPECT_THROW(bad.validate(), InvalidInput);
}

TEST(Preprocess, PrepareShapeTypeAndDeterminism) {
  Image img = read_image(real_photo(0).first);
  PreprocessSpec spec;
  spec.input_size = 96;
  at::Tensor a = prepare(img, spec);
  EXPECT_EQ(a.sizes(), (at::IntArrayRef{3, 96, 96}));
  EXPECT_EQ(a.scalar_type(), at::kByte);
  EXPECT_TRUE(a.is_contiguous());
  EXPECT_TRUE(at::equal(a, prepare(img, spec)));
  // Downscaling keeps the picture: the mean brightness barely moves.
  double src_mean = image_to_tensor(img).to(at::kFloat).mean().item<double>();
  EXPECT_NEAR(a.to(at::kFloat).mean().item<double>(), src_mean, 1.5);
  // A crop changes the result; a spec at the native size is the identity.
  spec.crop = 0.8f;
  EXPECT_FALSE(at::equal(a, prepare(img, spec)));
  spec.crop = 1.0f;
  spec.input_size = img.width;
  EXPECT_TRUE(at::equal(prepare(img, spec), image_to_tensor(img)));
  // Non-square input: centre square crop.
  Image wide;
  wide.width = 60;
  wide.height = 40;
  wide.rgb.assign(60 * 40 * 3, 0);
  for (int y = 0; y < 40; ++y)
    for (int x = 10; x < 50; ++x)
      for (int c = 0; c < 3; ++c) wide.rgb[(y * 60 + x) * 3 + c] = 200;
  spec.input_size = 40;
  at::Tensor w = prepare(wide, spec);
  EXPECT_EQ(w.min().item<int>(), 200);
}

TEST(Preprocess, TensorImageRoundTripAndNormalise) {
  Image img = read_image(real_photo(1).first);
  at::Tensor t = image_to_tensor(img);
  EXPECT_EQ(t.sizes(), (at::IntArrayRef{3, img.height, img.width}));
  EXPECT_EQ(t[0][0][1].item<int>(), img.rgb[3]);  // (x=1,y=0) red
  EXPECT_EQ(tensor_to_image(t).rgb, img.rgb);
  EXPECT_THROW(tensor_to_image(t.to(at::kFloat)), InvalidInput);

  PreprocessSpec spec;
  at::Tensor x = normalise(t.unsqueeze(0), spec);
  EXPECT_EQ(x.scalar_type(), at::kFloat);
  EXPECT_EQ(x.sizes(), (at::IntArrayRef{1, 3, img.height, img.width}));
  float expect = (img.rgb[3 + 2] / 255.0f - spec.mean[2]) / spec.std[2];
  EXPECT_NEAR(x[0][2][0][1].item<float>(), expect, 1e-5);
  at::Tensor unit = normalise(t.unsqueeze(0).to(at::kFloat) / 255.0, spec, /*already_unit=*/true);
  EXPECT_LT((unit - x).abs().max().item<float>(), 1e-5);
}

TEST(Augment, ShapeRangeAndChangesImages) {
  PreprocessSpec spec;
  spec.input_size = 64;
  std::vector<at::Tensor> imgs;
  for (int i = 0; i < 8; ++i) imgs.push_back(prepare(read_image(real_photo(i).first), spec));
  at::Tensor batch = at::stack(imgs);
  at::manual_seed(3);
  at::Tensor out = augment(batch, AugmentOptions{});
  EXPECT_EQ(out.sizes(), batch.sizes());
  EXPECT_EQ(out.scalar_type(), at::kFloat);
  EXPECT_GE(out.min().item<float>(), 0.0f);
  EXPECT_LE(out.max().item<float>(), 1.0f);
  at::Tensor plain = batch.to(at::kFloat) / 255.0;
  for (int i = 0; i < 8; ++i) {
    EXPECT_GT((out[i] - plain[i]).abs().mean().item<float>(), 0.005f) << "image " << i;
  }
  at::manual_seed(3);
  EXPECT_TRUE(at::equal(out, augment(batch, AugmentOptions{})));  // seeded = repeatable
  EXPECT_THROW(augment(batch.to(at::kFloat), AugmentOptions{}), InvalidInput);
}

TEST(Augment, FlipOnlyIsAnExactMirrorOrIdentity) {
  at::manual_seed(11);
  at::Tensor batch = at::randint(0, 256, {16, 3, 20, 20}, at::kByte);
  AugmentOptions flip_only;
  flip_only.max_rotate_deg = flip_only.max_scale = flip_only.max_shift = 0;
  flip_only.brightness = flip_only.contrast = flip_only.saturation = 0;
  at::Tensor out = augment(batch, flip_only);
  at::Tensor plain = batch.to(at::kFloat) / 255.0;
  at::Tensor mirror = at::flip(plain, {3});
  int flipped = 0;
  for (int i = 0; i < 16; ++i) {
    bool same = at::equal(out[i], plain[i]);
    bool mirrored = at::equal(out[i], mirror[i]);
    EXPECT_TRUE(same || mirrored) << "image " << i;
    flipped += mirrored;
  }
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, 16);
}

// A dataset of real photos plus one corrupt JPEG listed in labels.csv.
fs::path dataset_with_corrupt_photo(int count) {
  auto dir = make_mini_dataset("loader", count);
  auto bytes = read_file_bytes(real_photo(0).first);
  bytes.resize(bytes.size() / 2);
  write_file_atomic(dir / kPhotoFolder / "zz_corrupt.jpg",
                    std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  std::ofstream(dir / kLabelsFile, std::ios::app) << "zz_corrupt.jpg,33\n";
  return dir;
}

TEST(Loader, EveryPhotoOncePerEpochAndTheSameBytesAsPredict) {
  auto dir = dataset_with_corrupt_photo(30);
  LabelSet set = read_labels(dir);
  ASSERT_EQ(set.rows.size(), 31u);  // the corrupt photo exists, so labels accept it
  PreprocessSpec spec;
  spec.input_size = 64;
  for (int64_t cache : {int64_t(0), int64_t(1) << 30, int64_t(64 * 64 * 3 * 10)}) {
    LoaderOptions o;
    o.batch_size = 4;
    o.workers = 2;
    o.prefetch_batches = 2;
    o.shuffle = true;
    o.seed = 5;
    o.cache_bytes = cache;
    Loader loader(set.rows, spec, o);
    EXPECT_EQ(loader.batches_per_epoch(), 8);
    std::vector<int> first_order;
    for (int epoch = 0; epoch < 2; ++epoch) {
      loader.start_epoch(epoch);
      std::map<int, int> seen;
      std::vector<int> order;
      while (auto b = loader.next()) {
        ASSERT_EQ(b->images.size(0), int64_t(b->indices.size()));
        ASSERT_EQ(b->ages.size(0), int64_t(b->indices.size()));
        EXPECT_EQ(b->images.scalar_type(), at::kByte);
        for (size_t k = 0; k < b->indices.size(); ++k) {
          int idx = b->indices[k];
          ++seen[idx];
          order.push_back(idx);
          const LabelRow& row = loader.rows()[idx];
          EXPECT_EQ(b->ages[int64_t(k)].item<float>(), float(row.age));
          // The training path equals the predict path, byte for byte.
          EXPECT_TRUE(at::equal(b->images[int64_t(k)], prepare(read_image(row.path), spec)))
              << row.file_name;
        }
      }
      EXPECT_EQ(seen.size(), 30u) << "cache " << cache;
      for (auto& [idx, n] : seen) EXPECT_EQ(n, 1);
      EXPECT_EQ(seen.count(30), 0u);  // the corrupt one (last row) never appears
      if (epoch == 0) first_order = order;
      else EXPECT_NE(order, first_order);  // reshuffled per epoch
    }
    auto skipped = loader.skipped();
    ASSERT_EQ(skipped.size(), 1u);  // reported once over both epochs
    EXPECT_EQ(skipped[0].file_name, "zz_corrupt.jpg");
    EXPECT_NE(skipped[0].reason.find("zz_corrupt.jpg"), std::string::npos);
  }
}

TEST(Loader, OrderIsSeededAndUnshuffledIsFileOrder) {
  auto dir = make_mini_dataset("order", 12);
  LabelSet set = read_labels(dir);
  PreprocessSpec spec;
  spec.input_size = 32;
  auto order_of = [&](bool shuffle, uint64_t seed, int epoch, bool drop_last) {
    LoaderOptions o;
    o.batch_size = 5;
    o.shuffle = shuffle;
    o.seed = seed;
    o.drop_last = drop_last;
    Loader loader(set.rows, spec, o);
    loader.start_epoch(epoch);
    std::vector<int> order;
    while (auto b = loader.next()) order.insert(order.end(), b->indices.begin(), b->indices.end());
    return order;
  };
  std::vector<int> file_order(12);
  for (int i = 0; i < 12; ++i) file_order[i] = i;
  EXPECT_EQ(order_of(false, 0, 0, false), file_order);
  EXPECT_EQ(order_of(true, 9, 1, false), order_of(true, 9, 1, false));
  EXPECT_NE(order_of(true, 9, 1, false), order_of(true, 10, 1, false));
  EXPECT_EQ(order_of(true, 9, 1, true).size(), 10u);
}

// Data parallelism: the loaders of the ranks, each with its shard, deliver
// together exactly the batches one loader delivers, each rank a contiguous
// share of every batch, the photos with their bytes and ages.
TEST(Loader, ShardsCutEveryBatchIntoContiguousSharesOfTheSameOrder) {
  auto dir = make_mini_dataset("shards", 13);
  LabelSet set = read_labels(dir);
  PreprocessSpec spec;
  spec.input_size = 32;
  for (const bool drop_last : {true, false}) {
    auto batches = [&](int shard, int shards) {
      LoaderOptions o;
      o.batch_size = 6;
      o.shuffle = true;
      o.seed = 5;
      o.drop_last = drop_last;
      o.shard = shard;
      o.shards = shards;
      Loader loader(set.rows, spec, o);
      loader.start_epoch(3);
      std::vector<Batch> out;
      while (auto b = loader.next()) out.push_back(std::move(*b));
      return out;
    };
    const std::vector<Batch> whole = batches(0, 1);
    const std::vector<Batch> first = batches(0, 2), second = batches(1, 2);
    ASSERT_EQ(whole.size(), drop_last ? 2u : 3u);
    ASSERT_EQ(first.size(), whole.size());
    ASSERT_EQ(second.size(), whole.size());
    for (size_t i = 0; i < whole.size(); ++i) {
      std::vector<int> joined = first[i].indices;
      joined.insert(joined.end(), second[i].indices.begin(), second[i].indices.end());
      EXPECT_EQ(joined, whole[i].indices) << "batch " << i;
      EXPECT_EQ(first[i].indices.size(), whole[i].indices.size() / 2) << "batch " << i;
      EXPECT_TRUE(at::equal(at::cat({first[i].images, second[i].images}), whole[i].images)) << "batch " << i;
      EXPECT_TRUE(at::equal(at::cat({first[i].ages, second[i].ages}), whole[i].ages)) << "batch " << i;
    }
  }
  LoaderOptions bad;
  bad.shard = 2;
  bad.shards = 2;
  EXPECT_THROW(Loader(set.rows, spec, bad), InvalidInput);
}

TEST(Loader, AbandonedEpochsAndDestructionMidEpochAreClean) {
  auto dir = make_mini_dataset("abandon", 24);
  LabelSet set = read_labels(dir);
  PreprocessSpec spec;
  spec.input_size = 32;
  LoaderOptions o;
  o.batch_size = 3;
  o.prefetch_batches = 1;
  {
    Loader loader(set.rows, spec, o);
    loader.start_epoch(0);
    ASSERT_TRUE(loader.next().has_value());
    loader.start_epoch(1);  // abandon the rest of epoch 0
    int photos = 0;
    while (auto b = loader.next()) photos += int(b->indices.size());
    EXPECT_EQ(photos, 24);
    EXPECT_FALSE(loader.next().has_value());  // stays at the end
    loader.start_epoch(2);
    ASSERT_TRUE(loader.next().has_value());
  }  // destroyed mid-epoch with workers waiting on the bound
  EXPECT_THROW(Loader(set.rows, spec, LoaderOptions{0}), InvalidInput);
}

TEST(Loader, UnreadableEverythingEndsTheEpochWithoutHanging) {
  std::vector<LabelRow> rows;
  for (int i = 0; i < 5; ++i) rows.push_back({"gone" + std::to_string(i), "/nonexistent/gone.jpg", 20, i + 2});
  Loader loader(rows, PreprocessSpec{}, LoaderOptions{2});
  loader.start_epoch(0);
  EXPECT_FALSE(loader.next().has_value());
  EXPECT_EQ(loader.skipped().size(), 5u);
}

}  // namespace
}  // namespace agegate
