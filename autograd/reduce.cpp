// Differentiable reductions: sum, mean, max; argmax is not differentiated.
#include "qtorch/autograd/reduce.h"

#include <algorithm>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/node.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/view.h"

namespace qtorch {
namespace {

// The shape of the reduced result with keepdim, so gradients broadcast back.
Shape kept_shape(const Shape& in, const Shape& axes, const char* op) {
  Shape kept = in;
  if (in.empty()) {  // a 0-d tensor: axis 0 or -1 names the tensor itself, as PyTorch
    for (int64_t a : axes) wrap_axis(a, 0, op);
    return kept;
  }
  if (axes.empty()) {
    std::fill(kept.begin(), kept.end(), 1);
  } else {
    for (int64_t a : axes) kept[wrap_axis(a, static_cast<int64_t>(in.size()), op)] = 1;
  }
  return kept;
}

// The gradient of sum (count 1) and mean (divided by the count, as PyTorch's mean_backward):
// g spread back over x's shape.
Tensor record_sum(const char* op, const Tensor& x, Tensor out, const Shape& axes, float count) {
  return record(op, std::move(out), {x}, [&] {
    return [kept = kept_shape(x.shape(), axes, op), count](const Tensor& g, const Node& n) -> Grads {
      Tensor gk = ops::reshape(g, kept);
      if (count != 1.0f) gk = ops::binary(BinaryOp::Div, gk, full({}, count, gk.device()), "mean");
      return {ops::broadcast_to(gk, n.inputs[0].shape())};
    };
  });
}

}  // namespace

Tensor sum(const Tensor& x, const Shape& axes, bool keepdim) {
  return record_sum("sum", x, ops::sum(x, axes, keepdim), axes, 1.0f);
}

Tensor mean(const Tensor& x, const Shape& axes, bool keepdim) {
  QTORCH_CHECK(x.defined() && x.numel() > 0, "mean: expected a non-empty tensor");
  Tensor s = ops::sum(x, axes, keepdim);
  const float count = static_cast<float>(x.numel() / std::max<int64_t>(s.numel(), 1));
  // The sum divided by the count, as PyTorch's mean (a product with 1 / count differs in the
  // last bit for counts that are not a power of 2). Named "sum" when it averages one element.
  if (count == 1.0f) return record_sum("sum", x, s, axes, count);
  return record_sum("mean", x, ops::binary(BinaryOp::Div, s, full({}, count, s.device()), "mean"), axes, count);
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
  return record("max", ops::reshape(kept, out_shape), {x}, [&] {
    return [x = save(x), kept, axes](const Tensor& g, const Node&) -> Grads {
      Tensor mask = ops::binary(BinaryOp::Eq, x.get(), kept, "max");
      Tensor count = ops::sum(mask, axes, true);
      return {mask * (ops::reshape(g, kept.shape()) / count)};
    };
  });
}

Tensor argmax(const Tensor& x, int64_t axis, bool keepdim) { return ops::argmax(x, axis, keepdim); }

}  // namespace qtorch
