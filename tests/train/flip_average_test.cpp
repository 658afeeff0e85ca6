// Test-time flip averaging: the one inference path (forward_prepared) that
// evaluate, predict and serve share gives the mean of two explicit forward
// passes, on the photo and on its mirror image, when the model file asks.
#include <gtest/gtest.h>
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "agegate/core/fs.h"
#include "agegate/eval/estimator.h"
#include "agegate/eval/run_model.h"
#include "agegate/model/model_file.h"
#include "test_support.h"

namespace agegate {
namespace {

TEST(FlipAverage, TheInferencePathIsTheMeanOfTwoExplicitForwardPasses) {
  at::manual_seed(3);
  ModelConfig config;
  config.backbone = Backbone::kFaceResNet;
  AgeNet net(config);
  net->eval();
  PreprocessSpec spec;
  spec.input_size = 112;
  const at::Tensor batch = at::randint(0, 256, {3, 3, 112, 112}, at::kByte);
  c10::InferenceMode guard;
  const at::Tensor x = normalise(batch, spec);
  const at::Tensor plain = net->forward(x);
  const at::Tensor mirrored = net->forward(at::flip(x, {3}));
  spec.flip_average = false;
  EXPECT_TRUE(at::allclose(forward_prepared(net, spec, batch, c10::kCPU), plain, 1e-5, 1e-5));
  spec.flip_average = true;
  const at::Tensor averaged = forward_prepared(net, spec, batch, c10::kCPU);
  EXPECT_TRUE(at::allclose(averaged, (plain + mirrored) / 2, 1e-5, 1e-5));
  EXPECT_GT((plain - mirrored).abs().max().item<double>(), 1e-4) << "random photos are not symmetric";
}

TEST(FlipAverage, TheEstimatorFollowsTheModelFile) {
  at::manual_seed(4);
  ModelInfo info;
  info.config.backbone = Backbone::kFaceResNet;
  info.preprocess.input_size = 112;
  info.preprocess.flip_average = true;
  AgeNet net(info.config);
  net->eval();
  const auto path = testing::scratch_dir("flip_estimator") / "m.agm";
  save_model_file(path, net, info);
  Image face = read_image(testing::real_photo(5).first);
  EstimatorOptions eo;
  eo.threads = 1;
  Estimator est(path, eo);
  const AgeDistribution d = est.estimate({face})[0];
  c10::InferenceMode guard;
  const at::Tensor x = normalise(prepare(face, info.preprocess).unsqueeze(0), info.preprocess);
  const at::Tensor mean_logits = (net->forward(x) + net->forward(at::flip(x, {3}))) / 2;
  const AgeDistribution expected = to_distributions(mean_logits, info.calibration())[0];
  ASSERT_EQ(d.probs.size(), expected.probs.size());
  for (size_t a = 0; a < d.probs.size(); ++a) EXPECT_NEAR(d.probs[a], expected.probs[a], 1e-5) << "age " << a;
}

}  // namespace
}  // namespace agegate
