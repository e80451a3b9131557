// Differentiable reductions: sum, mean, max; argmax is not differentiated.
#include "autograd/reduce.h"

#include <algorithm>

#include "autograd/elementwise.h"
#include "autograd/node.h"
#include "core/error.h"
#include "core/ops.h"

namespace qtorch {
namespace {

// The shape of the reduced result with keepdim, so gradients broadcast back.
Shape kept_shape(const Shape& in, const Shape& axes, const char* op) {
  Shape kept = in;
  if (axes.empty()) {
    std::fill(kept.begin(), kept.end(), 1);
  } else {
    for (int64_t a : axes) kept[wrap_axis(a, static_cast<int64_t>(in.size()), op)] = 1;
  }
  return kept;
}

struct SumNode final : Node {
  Shape kept;
  float scale = 1.0f;  // 1/count for mean
  std::string name() const override { return scale == 1.0f ? "sum" : "mean"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor gk = g.reshape(kept);
    if (scale != 1.0f) gk = ops::unary(UnaryOp::MulScalar, gk, scale);
    return {ops::broadcast_to(gk, inputs[0].shape())};
  }
};

struct MaxNode final : Node {
  Tensor x, out_kept;
  Shape axes;
  std::string name() const override { return "max"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    Tensor mask = ops::binary(BinaryOp::Eq, x, out_kept, "max");
    Tensor count = ops::sum(mask, axes, true);
    return {mask * (g.reshape(out_kept.shape()) / count)};
  }
  void release() override { x = out_kept = Tensor(); }
};

}  // namespace

Tensor sum(const Tensor& x, const Shape& axes, bool keepdim) {
  Tensor out = ops::sum(x, axes, keepdim);
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<SumNode>();
  node->kept = kept_shape(x.shape(), axes, "sum");
  return attach_node(out, node, {x});
}

Tensor mean(const Tensor& x, const Shape& axes, bool keepdim) {
  QTORCH_CHECK(x.defined() && x.numel() > 0, "mean: expected a non-empty tensor");
  Tensor s = ops::sum(x, axes, keepdim);
  int64_t count = x.numel() / std::max<int64_t>(s.numel(), 1);
  float scale = 1.0f / static_cast<float>(count);
  Tensor out = ops::unary(UnaryOp::MulScalar, s, scale);
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<SumNode>();
  node->kept = kept_shape(x.shape(), axes, "mean");
  node->scale = scale;
  return attach_node(out, node, {x});
}

Tensor max(const Tensor& x, const Shape& axes, bool keepdim) {
  Tensor kept = ops::reduce(ReduceOp::Max, x, axes, true, "max");
  Shape out_shape;
  Shape k = kept_shape(x.shape(), axes, "max");
  for (size_t i = 0; i < k.size(); ++i) {
    bool reduced = axes.empty() || k[i] != x.shape()[i] ||
                   std::any_of(axes.begin(), axes.end(), [&](int64_t a) {
                     return wrap_axis(a, x.dim(), "max") == static_cast<int64_t>(i);
                   });
    if (!reduced || keepdim) out_shape.push_back(reduced ? 1 : x.shape()[i]);
  }
  Tensor out = kept.reshape(out_shape);
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<MaxNode>();
  node->x = x.detach();
  node->out_kept = kept;
  node->axes = axes;
  return attach_node(out, node, {x});
}

Tensor argmax(const Tensor& x, int64_t axis, bool keepdim) { return ops::argmax(x, axis, keepdim); }

}  // namespace qtorch
