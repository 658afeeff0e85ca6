// The face-identity ResNet of dlib, as face-api.js's FaceRecognitionNet lays
// it out: 29 convolutions, 150x150 input, pooled 256-d features. In the
// original each convolution is followed by a per-channel scale layer (dlib's
// affine layer, where its batch-norm went); here it is folded into the
// convolution (weight * s, bias * s + t: the same function), because an
// optimiser that sees the scale as parameters of its own trains worse (the
// reference trainer lost 0.6 years of validation MAE at 6 epochs that way,
// ../shared/reference/face-age-pytorch) and every step pays for the extra op.
// The wiring is taken from face-api.js@0.22.2's own description of it
// (build/commonjs/faceRecognitionNet/); module and parameter names follow the
// TensorFlow.js weights ("conv64_down/conv1/conv/filters" is our
// "conv64_down.conv1.conv.weight"), so the import (model/tfjs_import.h) maps
// by name and then folds the scales (fold_face_resnet_scales).
//
// Padding is TensorFlow's: "valid" (none) for the stride-2 convolutions and
// pooling, "same" (symmetric, 1 px) for the 3x3 stride-1 ones. A down-block
// adds its average-pooled input, zero-padded to its channel count; where the
// strided conv came out one row and column short of the pooling (an even
// input side), the conv's output gets a zero row and column at the bottom
// and right first, as face-api.js does.
#include <torch/nn/init.h>
#include <torch/nn/modules/conv.h>
#include <ATen/ATen.h>

#include <array>
#include <map>
#include <string_view>

#include "agegate/core/error.h"
#include "agegate/model/backbone.h"
#include "describe_conv.h"

namespace agegate {
namespace {

namespace nn = torch::nn;

// conv (with bias; dlib's scale folded in) -> optional ReLU.
class ConvLayerImpl : public nn::Module {
 public:
  ConvLayerImpl(int64_t in, int64_t out, int64_t kernel, bool down) {
    conv_ = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, out, kernel)
                                                   .stride(down ? 2 : 1)
                                                   .padding(down ? 0 : (kernel - 1) / 2)
                                                   .bias(true)));
    nn::init::kaiming_normal_(conv_->weight, /*a=*/0.0, torch::kFanOut, torch::kReLU);
    nn::init::zeros_(conv_->bias);
  }
  at::Tensor forward(const at::Tensor& x, bool relu) {
    at::Tensor y = conv_->forward(x);
    return relu ? at::relu(y) : y;
  }
  std::string describe(GraphSink& g, const std::string& x, bool relu) {
    const std::string y = model_detail::describe_conv(g, x, *conv_);
    return relu ? g.relu(y) : y;
  }
  // The output side for an input side (no padding when down: TensorFlow's "valid").
  int64_t output_side(int64_t side) const {
    const auto& o = conv_->options;
    const int64_t k = (*o.kernel_size())[0], s = (*o.stride())[0];
    const int64_t p = (*c10::get<torch::ExpandingArray<2>>(o.padding()))[0];
    return (side + 2 * p - k) / s + 1;
  }

 private:
  nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(ConvLayer);

class FaceResidualImpl : public nn::Module {
 public:
  FaceResidualImpl(int64_t in, int64_t out, bool down) : down_(down), extra_channels_(out - in) {
    conv1_ = register_module("conv1", ConvLayer(in, out, /*kernel=*/3, down));
    conv2_ = register_module("conv2", ConvLayer(out, out, /*kernel=*/3, /*down=*/false));
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor y = conv2_->forward(conv1_->forward(x, /*relu=*/true), /*relu=*/false);
    if (!down_) return at::relu(y + x);
    at::Tensor pooled = at::avg_pool2d(x, /*kernel_size=*/{2, 2}, /*stride=*/{2, 2});
    const int64_t short_h = pooled.size(2) - y.size(2), short_w = pooled.size(3) - y.size(3);
    if (short_h > 0 || short_w > 0) y = at::constant_pad_nd(y, {0, short_w, 0, short_h});
    const int64_t extra = y.size(1) - pooled.size(1);
    if (extra > 0) pooled = at::constant_pad_nd(pooled, {0, 0, 0, 0, 0, extra});
    return at::relu(y + pooled);
  }
  // `side`: the input's height and width; returns the output's.
  std::string describe(GraphSink& g, const std::string& x, int64_t& side) {
    const int64_t conv_side = conv2_->output_side(conv1_->output_side(side));
    std::string y = conv2_->describe(g, conv1_->describe(g, x, /*relu=*/true), /*relu=*/false);
    if (!down_) return g.relu(g.add(y, x));
    const std::string pooled_raw = g.avg_pool(x, /*kernel=*/2, /*stride=*/2);
    side /= 2;
    if (side > conv_side) y = g.pad_end(y, 0, side - conv_side, side - conv_side);
    const std::string pooled = extra_channels_ > 0 ? g.pad_end(pooled_raw, extra_channels_, 0, 0) : pooled_raw;
    return g.relu(g.add(y, pooled));
  }

 private:
  bool down_;
  int64_t extra_channels_;  // the pooled input's zero channels in a down-block
  ConvLayer conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(FaceResidual);

struct BlockSpec {
  const char* name;
  int64_t out;
  bool down;
};
// After conv32_down and the max-pool, in order.
constexpr std::array<BlockSpec, 14> kBlocks{{{"conv32_1", 32, false},
                                             {"conv32_2", 32, false},
                                             {"conv32_3", 32, false},
                                             {"conv64_down", 64, true},
                                             {"conv64_1", 64, false},
                                             {"conv64_2", 64, false},
                                             {"conv64_3", 64, false},
                                             {"conv128_down", 128, true},
                                             {"conv128_1", 128, false},
                                             {"conv128_2", 128, false},
                                             {"conv256_down", 256, true},
                                             {"conv256_1", 256, false},
                                             {"conv256_2", 256, false},
                                             {"conv256_down_out", 256, true}}};
constexpr int64_t kStemChannels = 32;
constexpr int64_t kStemKernel = 7;

class FaceResNetImpl : public BackboneImpl {
 public:
  FaceResNetImpl() {
    stem_ = register_module("conv32_down", ConvLayer(/*in=*/3, kStemChannels, kStemKernel, /*down=*/true));
    int64_t in = kStemChannels;
    for (const auto& b : kBlocks) {
      blocks_.push_back(register_module(b.name, FaceResidual(in, b.out, b.down)));
      in = b.out;
    }
  }
  at::Tensor forward(const at::Tensor& x) override {
    if (x.dim() != 4 || x.size(2) < kFaceResNetMinInput || x.size(3) < kFaceResNetMinInput) {
      throw InvalidInput("face_resnet needs [N,3,S,S] input with S >= " + std::to_string(kFaceResNetMinInput) +
                         " (its four stride-2 blocks), got " + c10::str(x.sizes()));
    }
    at::Tensor y = at::max_pool2d(stem_->forward(x, /*relu=*/true), /*kernel_size=*/{3, 3}, /*stride=*/{2, 2});
    for (auto& b : blocks_) y = b->forward(y);
    return y.mean({2, 3});
  }
  std::string describe(GraphSink& g, const std::string& x, int64_t input_size) override {
    if (input_size < kFaceResNetMinInput) {
      throw InvalidInput("face_resnet needs input side >= " + std::to_string(kFaceResNetMinInput) + ", got " +
                         std::to_string(input_size));
    }
    std::string y = g.max_pool(stem_->describe(g, x, /*relu=*/true), /*kernel=*/3, /*stride=*/2, /*pad=*/0);
    int64_t side = (stem_->output_side(input_size) - 3) / 2 + 1;
    for (auto& b : blocks_) y = b->describe(g, y, side);
    return g.global_mean(y);
  }
  int64_t feature_dim() const override { return kBlocks.back().out; }
  std::string name() const override { return "face_resnet"; }

 private:
  ConvLayer stem_{nullptr};
  std::vector<FaceResidual> blocks_;
};

}  // namespace

std::shared_ptr<BackboneImpl> make_face_resnet() { return std::make_shared<FaceResNetImpl>(); }

namespace {
constexpr std::string_view kScaleWeights = ".scale.weights";
constexpr std::string_view kScaleBiases = ".scale.biases";

bool ends_with(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
}  // namespace

std::map<std::string, at::Tensor> fold_face_resnet_scales(std::map<std::string, at::Tensor> named) {
  std::vector<std::string> layers;
  for (const auto& [name, t] : named) {
    if (ends_with(name, kScaleWeights)) layers.push_back(name.substr(0, name.size() - kScaleWeights.size()));
  }
  for (const auto& layer : layers) {
    auto need = [&](const std::string& key) -> at::Tensor& {
      auto it = named.find(key);
      if (it == named.end()) throw ModelError("face ResNet scale fold: '" + key + "' is missing");
      return it->second;
    };
    const at::Tensor s = need(layer + std::string(kScaleWeights)).to(at::kFloat);
    const at::Tensor t = need(layer + std::string(kScaleBiases)).to(at::kFloat);
    at::Tensor& w = need(layer + ".conv.weight");
    at::Tensor& b = need(layer + ".conv.bias");
    if (s.dim() != 1 || t.sizes() != s.sizes() || w.dim() != 4 || w.size(0) != s.size(0) || b.sizes() != s.sizes()) {
      throw ModelError("face ResNet scale fold: the shapes of layer '" + layer + "' do not fit together");
    }
    w = w.to(at::kFloat) * s.reshape({-1, 1, 1, 1});
    b = b.to(at::kFloat) * s + t;
    named.erase(layer + std::string(kScaleWeights));
    named.erase(layer + std::string(kScaleBiases));
  }
  return named;
}

}  // namespace agegate
