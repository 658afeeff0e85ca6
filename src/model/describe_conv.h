// A torch Conv2d module stated to a GraphSink (private to model/).
#pragma once
#include <torch/nn/modules/conv.h>

#include <string>

#include "agegate/core/error.h"
#include "agegate/model/graph_sink.h"

namespace agegate::model_detail {

// The conv's stride, padding and groups as its options hold them; a padding
// mode, uneven stride or padding, or dilation that GraphSink::Conv cannot say
// is a ModelError.
inline std::string describe_conv(GraphSink& g, const std::string& x, torch::nn::Conv2dImpl& conv) {
  const auto& o = conv.options;
  const auto* pad = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  const auto& stride = *o.stride();
  const auto& dilation = *o.dilation();
  if (pad == nullptr || (**pad)[0] != (**pad)[1] || stride[0] != stride[1] || dilation[0] != 1 ||
      dilation[1] != 1 || !c10::get_if<torch::enumtype::kZeros>(&o.padding_mode())) {
    throw ModelError("a convolution with uneven stride or padding, dilation or a padding mode cannot be described");
  }
  GraphSink::Conv spec;
  spec.stride = stride[0];
  spec.pad = (**pad)[0];
  spec.groups = o.groups();
  return g.conv(x, conv.weight, conv.bias, spec);
}

}  // namespace agegate::model_detail
