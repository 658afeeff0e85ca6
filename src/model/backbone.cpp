// MobileNetV2 (batch-norm folded: biased convolutions) and ResNet-18/34/50,
// with torchvision's module names so state dicts map by path.
#include "agegate/model/backbone.h"

#include <torch/nn/init.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/pooling.h>
#include <ATen/ATen.h>

#include <array>

#include "agegate/core/enum_names.h"
#include "agegate/core/error.h"
#include "describe_conv.h"

namespace agegate {
namespace {

namespace nn = torch::nn;
using model_detail::describe_conv;

std::string describe_bn(GraphSink& g, const std::string& x, nn::BatchNorm2dImpl& bn) {
  return g.batch_norm(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.options.eps());
}

// A Sequential of convolutions, batch-norms and modules with describe().
template <typename... Describable>
std::string describe_sequence(GraphSink& g, std::string x, nn::Sequential& seq) {
  for (auto& m : seq->children()) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      x = describe_conv(g, x, *conv);
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      x = describe_bn(g, x, *bn);
    } else {
      bool done = false;
      ((done = done || [&] {
          auto* d = m->as<Describable>();
          if (d != nullptr) x = d->describe(g, x);
          return d != nullptr;
        }()),
       ...);
      if (!done) throw ModelError("module '" + m->name() + "' cannot be described");
    }
  }
  return x;
}

// ---------------------------------------------------------------- MobileNetV2

constexpr int64_t kMobileNetStemChannels = 32;
constexpr int64_t kMobileNetLastChannels = 1280;

// Conv (with bias, batch-norm folded in) followed by ReLU/ReLU6 or nothing.
// The conv is child "0", as in torchvision's Conv2dNormActivation.
enum class Act { kNone, kRelu, kRelu6 };

class ConvActImpl : public nn::Module {
 public:
  ConvActImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups, Act act)
      : act_(act) {
    conv_ = register_module("0", nn::Conv2d(nn::Conv2dOptions(in, out, kernel)
                                                .stride(stride)
                                                .padding((kernel - 1) / 2)
                                                .groups(groups)
                                                .bias(true)));
  }
  at::Tensor forward(at::Tensor x) {
    x = conv_->forward(x);
    switch (act_) {
      case Act::kRelu: return at::relu(x);
      case Act::kRelu6: return at::hardtanh(x, /*min_val=*/0.0, /*max_val=*/6.0);
      case Act::kNone: return x;
    }
    return x;
  }
  std::string describe(GraphSink& g, const std::string& x) {
    std::string y = describe_conv(g, x, *conv_);
    switch (act_) {
      case Act::kRelu: return g.relu(y);
      case Act::kRelu6: return g.clip(y, 0.0f, 6.0f);
      case Act::kNone: return y;
    }
    return y;
  }

 private:
  Act act_;
  nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(ConvAct);

class InvertedResidualImpl : public nn::Module {
 public:
  InvertedResidualImpl(int64_t in, int64_t out, int64_t stride, int64_t expand, Act act)
      : residual_(stride == 1 && in == out) {
    const int64_t hidden = in * expand;
    nn::Sequential seq;
    if (expand != 1) {
      seq->push_back(ConvAct(in, hidden, /*kernel=*/1, /*stride=*/1, /*groups=*/1, act));
    }
    seq->push_back(ConvAct(hidden, hidden, /*kernel=*/3, stride, /*groups=*/hidden, act));
    // The projection is a bare conv (torchvision: conv.N is Conv2d itself).
    seq->push_back(nn::Conv2d(nn::Conv2dOptions(hidden, out, /*kernel_size=*/1).bias(true)));
    conv_ = register_module("conv", seq);
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor y = conv_->forward(x);
    return residual_ ? x + y : y;
  }
  std::string describe(GraphSink& g, const std::string& x) {
    std::string y = describe_sequence<ConvActImpl>(g, x, conv_);
    return residual_ ? g.add(x, y) : y;
  }

 private:
  bool residual_;
  nn::Sequential conv_{nullptr};
};
TORCH_MODULE(InvertedResidual);

class MobileNetV2Impl : public BackboneImpl {
 public:
  MobileNetV2Impl() {
    const Act act = Act::kRelu6;  // see make_mobilenet_v2() in backbone.h
    struct Stage {
      int64_t expand, channels, repeats, stride;
    };
    // torchvision's inverted_residual_setting (t, c, n, s) at width 1.0.
    constexpr std::array<Stage, 7> kStages{{{1, 16, 1, 1},
                                            {6, 24, 2, 2},
                                            {6, 32, 3, 2},
                                            {6, 64, 4, 2},
                                            {6, 96, 3, 1},
                                            {6, 160, 3, 2},
                                            {6, 320, 1, 1}}};
    nn::Sequential features;
    features->push_back(ConvAct(/*in=*/3, kMobileNetStemChannels, /*kernel=*/3, /*stride=*/2,
                                /*groups=*/1, act));
    int64_t in = kMobileNetStemChannels;
    for (const Stage& s : kStages) {
      for (int64_t i = 0; i < s.repeats; ++i) {
        features->push_back(
            InvertedResidual(in, s.channels, i == 0 ? s.stride : 1, s.expand, act));
        in = s.channels;
      }
    }
    features->push_back(ConvAct(in, kMobileNetLastChannels, /*kernel=*/1, /*stride=*/1,
                                /*groups=*/1, act));
    features_ = register_module("features", features);

    // torchvision's init: Kaiming (fan_out) for convs, zero biases.
    for (auto& m : modules(/*include_self=*/false)) {
      if (auto* conv = m->as<nn::Conv2d>()) {
        nn::init::kaiming_normal_(conv->weight, /*a=*/0.0, torch::kFanOut);
        nn::init::zeros_(conv->bias);
      }
    }
  }
  at::Tensor forward(const at::Tensor& x) override {
    return features_->forward(x).mean({2, 3});
  }
  std::string describe(GraphSink& g, const std::string& x, int64_t /*input_size*/) override {
    return g.global_mean(describe_sequence<ConvActImpl, InvertedResidualImpl>(g, x, features_));
  }
  int64_t feature_dim() const override { return kMobileNetLastChannels; }
  std::string name() const override { return "mobilenet_v2"; }

 private:
  nn::Sequential features_{nullptr};
};

// --------------------------------------------------------------------- ResNet

nn::Conv2d conv_nobias(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return nn::Conv2d(
      nn::Conv2dOptions(in, out, kernel).stride(stride).padding((kernel - 1) / 2).bias(false));
}

nn::Sequential make_downsample(int64_t in, int64_t out, int64_t stride) {
  nn::Sequential ds;
  ds->push_back(conv_nobias(in, out, /*kernel=*/1, stride));
  ds->push_back(nn::BatchNorm2d(out));
  return ds;
}

class BasicBlockImpl : public nn::Module {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlockImpl(int64_t in, int64_t planes, int64_t stride) {
    conv1_ = register_module("conv1", conv_nobias(in, planes, /*kernel=*/3, stride));
    bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
    conv2_ = register_module("conv2", conv_nobias(planes, planes, /*kernel=*/3, /*stride=*/1));
    bn2_ = register_module("bn2", nn::BatchNorm2d(planes));
    if (stride != 1 || in != planes * kExpansion) {
      downsample_ = register_module("downsample", make_downsample(in, planes * kExpansion, stride));
    }
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor y = at::relu(bn1_->forward(conv1_->forward(x)));
    y = bn2_->forward(conv2_->forward(y));
    at::Tensor identity = downsample_ ? downsample_->forward(x) : x;
    return at::relu(y + identity);
  }
  std::string describe(GraphSink& g, const std::string& x) {
    std::string y = g.relu(describe_bn(g, describe_conv(g, x, *conv1_), *bn1_));
    y = describe_bn(g, describe_conv(g, y, *conv2_), *bn2_);
    const std::string identity = downsample_ ? describe_sequence<>(g, x, downsample_) : x;
    return g.relu(g.add(y, identity));
  }
  nn::BatchNorm2d& last_bn() { return bn2_; }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(BasicBlock);

class BottleneckImpl : public nn::Module {
 public:
  static constexpr int64_t kExpansion = 4;
  BottleneckImpl(int64_t in, int64_t planes, int64_t stride) {
    // torchvision v1.5: the stride sits on the 3x3 conv.
    conv1_ = register_module("conv1", conv_nobias(in, planes, /*kernel=*/1, /*stride=*/1));
    bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
    conv2_ = register_module("conv2", conv_nobias(planes, planes, /*kernel=*/3, stride));
    bn2_ = register_module("bn2", nn::BatchNorm2d(planes));
    conv3_ = register_module("conv3",
                             conv_nobias(planes, planes * kExpansion, /*kernel=*/1, /*stride=*/1));
    bn3_ = register_module("bn3", nn::BatchNorm2d(planes * kExpansion));
    if (stride != 1 || in != planes * kExpansion) {
      downsample_ = register_module("downsample", make_downsample(in, planes * kExpansion, stride));
    }
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor y = at::relu(bn1_->forward(conv1_->forward(x)));
    y = at::relu(bn2_->forward(conv2_->forward(y)));
    y = bn3_->forward(conv3_->forward(y));
    at::Tensor identity = downsample_ ? downsample_->forward(x) : x;
    return at::relu(y + identity);
  }
  std::string describe(GraphSink& g, const std::string& x) {
    std::string y = g.relu(describe_bn(g, describe_conv(g, x, *conv1_), *bn1_));
    y = g.relu(describe_bn(g, describe_conv(g, y, *conv2_), *bn2_));
    y = describe_bn(g, describe_conv(g, y, *conv3_), *bn3_);
    const std::string identity = downsample_ ? describe_sequence<>(g, x, downsample_) : x;
    return g.relu(g.add(y, identity));
  }
  nn::BatchNorm2d& last_bn() { return bn3_; }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(Bottleneck);

constexpr int64_t kResNetStemChannels = 64;
constexpr std::array<int64_t, 4> kResNetPlanes{64, 128, 256, 512};

class ResNetImpl : public BackboneImpl {
 public:
  ResNetImpl(int depth, const ResNetOptions& options) : depth_(depth) {
    std::array<int64_t, 4> blocks{};
    bool bottleneck = false;
    switch (depth) {
      case 18: blocks = {2, 2, 2, 2}; break;
      case 34: blocks = {3, 4, 6, 3}; break;
      case 50: blocks = {3, 4, 6, 3}; bottleneck = true; break;
      default: throw InvalidInput("resnet depth " + std::to_string(depth) + " is not one of 18, 34, 50");
    }
    conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(/*in=*/3, kResNetStemChannels,
                                                                   /*kernel_size=*/7)
                                                     .stride(2)
                                                     .padding(3)
                                                     .bias(false)));
    bn1_ = register_module("bn1", nn::BatchNorm2d(kResNetStemChannels));
    maxpool_ = nn::MaxPool2d(nn::MaxPool2dOptions(/*kernel_size=*/3).stride(2).padding(1));
    int64_t in = kResNetStemChannels;
    for (size_t l = 0; l < blocks.size(); ++l) {
      nn::Sequential layer;
      for (int64_t b = 0; b < blocks[l]; ++b) {
        const int64_t stride = (b == 0 && l > 0) ? 2 : 1;
        if (bottleneck) {
          layer->push_back(Bottleneck(in, kResNetPlanes[l], stride));
          in = kResNetPlanes[l] * BottleneckImpl::kExpansion;
        } else {
          layer->push_back(BasicBlock(in, kResNetPlanes[l], stride));
          in = kResNetPlanes[l] * BasicBlockImpl::kExpansion;
        }
      }
      layers_[l] = register_module("layer" + std::to_string(l + 1), layer);
    }
    feature_dim_ = in;

    for (auto& m : modules(/*include_self=*/false)) {
      if (auto* conv = m->as<nn::Conv2d>()) {
        nn::init::kaiming_normal_(conv->weight, /*a=*/0.0, torch::kFanOut, torch::kReLU);
      } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
        nn::init::ones_(bn->weight);
        nn::init::zeros_(bn->bias);
      }
    }
    if (options.zero_init_residual) {
      for (auto& m : modules(/*include_self=*/false)) {
        if (auto* b = m->as<BasicBlock>()) nn::init::zeros_(b->last_bn()->weight);
        if (auto* b = m->as<Bottleneck>()) nn::init::zeros_(b->last_bn()->weight);
      }
    }
  }
  at::Tensor forward(const at::Tensor& x) override {
    at::Tensor y = maxpool_->forward(at::relu(bn1_->forward(conv1_->forward(x))));
    for (auto& layer : layers_) y = layer->forward(y);
    return y.mean({2, 3});
  }
  std::string describe(GraphSink& g, const std::string& x, int64_t /*input_size*/) override {
    const auto& pool = maxpool_->options;
    std::string y = g.relu(describe_bn(g, describe_conv(g, x, *conv1_), *bn1_));
    y = g.max_pool(y, (*pool.kernel_size())[0], (*pool.stride())[0], (*pool.padding())[0]);
    for (auto& layer : layers_) y = describe_sequence<BasicBlockImpl, BottleneckImpl>(g, y, layer);
    return g.global_mean(y);
  }
  int64_t feature_dim() const override { return feature_dim_; }
  std::string name() const override { return "resnet" + std::to_string(depth_); }

 private:
  int depth_;
  int64_t feature_dim_ = 0;
  nn::Conv2d conv1_{nullptr};
  nn::BatchNorm2d bn1_{nullptr};
  nn::MaxPool2d maxpool_{nullptr};
  std::array<nn::Sequential, 4> layers_{nn::Sequential{nullptr}, nn::Sequential{nullptr},
                                        nn::Sequential{nullptr}, nn::Sequential{nullptr}};
};

}  // namespace

std::shared_ptr<BackboneImpl> make_mobilenet_v2() {
  return std::make_shared<MobileNetV2Impl>();
}

std::shared_ptr<BackboneImpl> make_resnet(int depth, const ResNetOptions& options) {
  return std::make_shared<ResNetImpl>(depth, options);
}

const char* to_string(Backbone b) {
  switch (b) {
    case Backbone::kMobileNetV2: return "mobilenet_v2";
    case Backbone::kFaceResNet: return "face_resnet";
    case Backbone::kResNet18: return "resnet18";
    case Backbone::kResNet34: return "resnet34";
    case Backbone::kResNet50: return "resnet50";
  }
  throw InternalError("unknown backbone");
}

Backbone parse_backbone(const std::string& name) { return parse_enum_name(name, kBackbones, "backbone"); }

std::shared_ptr<BackboneImpl> make_backbone(Backbone b) {
  switch (b) {
    case Backbone::kMobileNetV2: return make_mobilenet_v2();
    case Backbone::kFaceResNet: return make_face_resnet();
    case Backbone::kResNet18: return make_resnet(/*depth=*/18, ResNetOptions{});
    case Backbone::kResNet34: return make_resnet(/*depth=*/34, ResNetOptions{});
    case Backbone::kResNet50: return make_resnet(/*depth=*/50, ResNetOptions{});
  }
  throw InternalError("unknown backbone");
}

}  // namespace agegate
