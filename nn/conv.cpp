// nn::Conv2d: 2-D convolution over [N, C, H, W] with stride, padding, dilation and groups.
#include "qtorch/nn/conv.h"

#include <fmt/format.h>

#include "qtorch/autograd/conv.h"
#include "qtorch/core/error.h"
#include "qtorch/nn/init.h"
#include "qtorch/nn/fusion.h"

namespace qtorch::nn {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
               const Conv2dOptions& options)
    : in_(in_channels), out_(out_channels), kernel_(kernel_size), options_(options) {
  QTORCH_CHECK(in_channels > 0 && out_channels > 0 && kernel_size > 0,
               "Conv2d: expected positive channels and kernel size, got {} -> {}, k={}",
               in_channels, out_channels, kernel_size);
  QTORCH_CHECK(options.groups > 0 && in_channels % options.groups == 0 &&
                   out_channels % options.groups == 0,
               "Conv2d: expected groups dividing both {} and {}, got {}", in_channels,
               out_channels, options.groups);
  QTORCH_CHECK(options.stride > 0 && options.dilation > 0 && options.padding >= 0,
               "Conv2d: expected stride, dilation > 0 and padding >= 0, got {}, {}, {}",
               options.stride, options.dilation, options.padding);
  Tensor w = empty({out_channels, in_channels / options.groups, kernel_size, kernel_size});
  Tensor b = options.bias ? empty({out_channels}) : Tensor();
  init::default_layer_init_(w, b);
  register_parameter("weight", w);
  if (options.bias) register_parameter("bias", b);
}

Conv2dParams Conv2d::checked_params(const Tensor& x, const char* layer) const {
  QTORCH_CHECK(x.defined() && x.dim() == 4 && x.size(1) == in_, "{}: expected input [N, {}, H, W], got {}", layer,
               in_, x.defined() ? shape_str(x.shape()) : "an undefined tensor");
  qtorch::Conv2dParams o;
  o.stride_h = o.stride_w = options_.stride;
  o.pad_h = o.pad_w = options_.padding;
  o.dil_h = o.dil_w = options_.dilation;
  o.groups = options_.groups;
  return o;
}

Tensor Conv2d::forward(const Tensor& x) { return qtorch::conv2d(x, weight(), bias(), checked_params(x, "Conv2d")); }

Tensor Conv2d::product(const Tensor& x) {
  return qtorch::conv2d(x, weight(), Tensor(), checked_params(x, "Conv2d"));
}

bool Conv2d::forward_is_product_plus_bias() const { return is_exactly<Conv2d>(*this); }

FusedForward Conv2d::forward_fused(std::span<Module* const> next, const Tensor& x) {
  if (!forward_is_product_plus_bias()) return {};
  return bias_add_in_next(next, bias(), 1, [&] { return product(x); });
}

std::string Conv2d::extra_repr() const {
  std::string s = fmt::format("{} -> {}, k={}, stride={}, padding={}", in_, out_, kernel_,
                              options_.stride, options_.padding);
  if (options_.dilation != 1) s += fmt::format(", dilation={}", options_.dilation);
  if (options_.groups != 1) s += fmt::format(", groups={}", options_.groups);
  if (!options_.bias) s += ", bias=false";
  return s;
}

}  // namespace qtorch::nn
