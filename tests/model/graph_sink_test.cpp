// Each backbone's describe() against its forward(): the ops it states, run
// one by one with ATen, give the network's own output (eval mode), for every
// backbone agegate trains and for the face ResNet's odd and even sides.
#include <gtest/gtest.h>
#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <map>

#include "agegate/core/error.h"
#include "agegate/model/age_net.h"
#include "agegate/model/graph_sink.h"
#include "agegate/model/imagenet_import.h"
#include "test_support.h"

namespace agegate {
namespace {

// Runs each op as it is stated, on named tensors.
class AtenSink : public GraphSink {
 public:
  std::map<std::string, at::Tensor> values;
  int ops = 0;

  std::string conv(const std::string& x, const at::Tensor& w, const at::Tensor& b, const Conv& s) override {
    return put(at::conv2d(get(x), w, b, {s.stride, s.stride}, {s.pad, s.pad}, {1, 1}, s.groups));
  }
  std::string batch_norm(const std::string& x, const at::Tensor& w, const at::Tensor& b, const at::Tensor& mean,
                         const at::Tensor& var, double eps) override {
    auto shape = [](const at::Tensor& t) { return t.reshape({1, -1, 1, 1}); };
    return put((get(x) - shape(mean)) / at::sqrt(shape(var) + eps) * shape(w) + shape(b));
  }
  std::string relu(const std::string& x) override { return put(at::relu(get(x))); }
  std::string clip(const std::string& x, float lo, float hi) override { return put(at::clamp(get(x), lo, hi)); }
  std::string add(const std::string& a, const std::string& b) override { return put(get(a) + get(b)); }
  std::string max_pool(const std::string& x, int64_t k, int64_t s, int64_t p) override {
    return put(at::max_pool2d(get(x), {k, k}, {s, s}, {p, p}));
  }
  std::string avg_pool(const std::string& x, int64_t k, int64_t s) override {
    return put(at::avg_pool2d(get(x), {k, k}, {s, s}));
  }
  std::string pad_end(const std::string& x, int64_t c, int64_t r, int64_t w) override {
    return put(at::constant_pad_nd(get(x), {0, w, 0, r, 0, c}));
  }
  std::string global_mean(const std::string& x) override { return put(get(x).mean({2, 3})); }
  std::string linear(const std::string& x, const at::Tensor& w, const at::Tensor& b) override {
    return put(at::linear(get(x), w, b));
  }

 private:
  at::Tensor get(const std::string& name) {
    auto it = values.find(name);
    if (it == values.end()) throw std::runtime_error("value '" + name + "' used before it was made");
    return it->second;
  }
  std::string put(at::Tensor t) {
    const std::string name = "v" + std::to_string(++ops);
    values[name] = std::move(t);
    return name;
  }
};

// Random weights and batch-norm statistics away from 0/1, so every op counts.
AgeNet random_net(const std::string& backbone) {
  at::manual_seed(7);
  ModelConfig c;
  c.backbone = parse_backbone(backbone);
  AgeNet net(c);
  torch::NoGradGuard no_grad;
  for (auto& b : net->named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().uniform_(-0.1, 0.1);
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
  }
  for (auto& p : net->named_parameters()) {
    if (p.key().find("bn") != std::string::npos || p.key().find("downsample.1") != std::string::npos) {
      p.value().uniform_(0.5, 1.5);
    }
  }
  // MobileNetV2 (no batch-norm) at Kaiming scale saturates its ReLU6, so
  // every input gives the same features; its ImageNet weights do not.
  if (backbone == "mobilenet_v2") {
    import_mobilenet_v2_imagenet(net->backbone(), testing::weights_dir() / kMobileNetFile);
  }
  net->eval();
  return net;
}

void expect_same_function(const std::string& backbone, int64_t side) {
  SCOPED_TRACE(backbone + " at " + std::to_string(side));
  AgeNet net = random_net(backbone);
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 3, side, side});
  const at::Tensor want = net->forward(x);
  AtenSink sink;
  sink.values["x"] = x;
  const std::string out = net->describe(sink, "x", side);
  const at::Tensor got = sink.values.at(out);
  ASSERT_EQ(got.sizes(), want.sizes());
  const double scale = want.abs().max().item<double>();
  // The two inputs get different outputs: the signal reaches the head.
  EXPECT_GT((want[0] - want[1]).abs().max().item<double>(), 1e-3 * std::max(1.0, scale));
  EXPECT_LT((got - want).abs().max().item<double>(), 1e-4 * std::max(1.0, scale));
  EXPECT_GT(sink.ops, 10);
}

TEST(GraphSink, MobileNetV2StatesItsForward) { expect_same_function("mobilenet_v2", 64); }
TEST(GraphSink, ResNet18StatesItsForward) { expect_same_function("resnet18", 64); }
TEST(GraphSink, ResNet34StatesItsForward) { expect_same_function("resnet34", 48); }
TEST(GraphSink, ResNet50StatesItsForward) { expect_same_function("resnet50", 48); }
// 150: every stride-2 block meets an even side somewhere and pads; 103 and
// 121 take other paths through the odd/even cases.
TEST(GraphSink, FaceResNetStatesItsForwardAtEvenAndOddSides) {
  expect_same_function("face_resnet", 150);
  expect_same_function("face_resnet", 103);
  expect_same_function("face_resnet", 121);
}

TEST(GraphSink, FaceResNetRefusesAnInputItCannotRun) {
  AgeNet net = random_net("face_resnet");
  AtenSink sink;
  EXPECT_THROW(net->describe(sink, "x", 64), InvalidInput);
}

// Every backbone agegate knows is covered above.
TEST(GraphSink, EveryBackboneIsCovered) {
  std::vector<std::string> names;
  for (Backbone b : kBackbones) names.push_back(to_string(b));
  EXPECT_EQ(names, (std::vector<std::string>{"mobilenet_v2", "face_resnet", "resnet18", "resnet34", "resnet50"}));
}

}  // namespace
}  // namespace agegate
