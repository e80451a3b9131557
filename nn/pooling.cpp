// nn::MaxPool2d and nn::AvgPool2d over [N, C, H, W].
#include "qtorch/nn/pooling.h"

#include <fmt/format.h>

#include "qtorch/autograd/conv.h"
#include "qtorch/core/error.h"

namespace qtorch::nn {

namespace {

qtorch::Pool2dParams to_ops(int64_t kernel, const Pool2dOptions& o) {
  qtorch::Pool2dParams p;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = o.stride > 0 ? o.stride : kernel;
  p.pad_h = p.pad_w = o.padding;
  return p;
}

std::string pool_repr(int64_t kernel, const Pool2dOptions& o) {
  std::string s = fmt::format("k={}, stride={}", kernel, o.stride > 0 ? o.stride : kernel);
  if (o.padding != 0) s += fmt::format(", padding={}", o.padding);
  return s;
}

void check_pool(const char* name, int64_t kernel, const Pool2dOptions& o) {
  QTORCH_CHECK(kernel > 0 && o.stride >= 0 && o.padding >= 0,
               "{}: expected kernel > 0, stride >= 0, padding >= 0, got {}, {}, {}", name, kernel,
               o.stride, o.padding);
}

}  // namespace

MaxPool2d::MaxPool2d(int64_t kernel_size, const Pool2dOptions& options)
    : kernel_(kernel_size), options_(options) {
  check_pool("MaxPool2d", kernel_size, options);
}

Tensor MaxPool2d::forward(const Tensor& x) {
  return qtorch::max_pool2d(x, to_ops(kernel_, options_));
}

std::string MaxPool2d::extra_repr() const { return pool_repr(kernel_, options_); }

AvgPool2d::AvgPool2d(int64_t kernel_size, const Pool2dOptions& options)
    : kernel_(kernel_size), options_(options) {
  check_pool("AvgPool2d", kernel_size, options);
}

Tensor AvgPool2d::forward(const Tensor& x) {
  return qtorch::avg_pool2d(x, to_ops(kernel_, options_));
}

std::string AvgPool2d::extra_repr() const { return pool_repr(kernel_, options_); }

}  // namespace qtorch::nn
