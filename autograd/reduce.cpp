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

// The gradient of sum (scale 1) and mean (scale 1/count): g spread back over x's shape.
Tensor record_sum(const char* op, const Tensor& x, Tensor out, const Shape& axes, float scale) {
  return record(op, std::move(out), {x}, [&] {
    return [kept = kept_shape(x.shape(), axes, op), scale](const Tensor& g, const Node& n) -> Grads {
      Tensor gk = ops::reshape(g, kept);
      if (scale != 1.0f) gk = ops::unary(UnaryOp::MulScalar, gk, scale);
      return {ops::broadcast_to(gk, n.inputs[0].shape())};
    };
  });
}

}  // namespace

Tensor sum(const Tensor& x, const Shape& axes, bool keepdim) {
  return record_sum("sum", x, ops::sum(x, axes, keepdim), axes, 1.0f);
}

Tensor mean(const Tensor& x, const Shape& axes, bool keepdim) {
  QTORCH_CHECK(x.defined(), "mean: expected a defined tensor, got an undefined one");
  const Shape kept = kept_shape(x.shape(), axes, "mean");  // bad axes are the mean's error, not the sum's
  int64_t count = 1;  // elements per mean: the product of the reduced axes
  for (size_t i = 0; i < kept.size(); ++i)
    if (kept[i] != x.shape()[i]) count *= x.shape()[i];
  // No mean over no elements (PyTorch gives NaN); an empty tensor whose reduced axes hold
  // elements gives an empty result, as in PyTorch.
  QTORCH_CHECK(count > 0, "mean: expected elements along every reduced axis, got shape {}", shape_str(x.shape()));
  Tensor s = ops::sum(x, axes, keepdim);
  // The sum times 1 / count. PyTorch divides, which differs in the last bit where the count is
  // not a power of 2 (the session-24 audit); changing it changes every published reproduction
  // figure (a batch's last partial batch), so it waits for a session that reruns them.
  float scale = 1.0f / static_cast<float>(count);
  // Named "sum" when it averages one element (scale 1), as it always was.
  return record_sum(scale == 1.0f ? "sum" : "mean", x, ops::unary(UnaryOp::MulScalar, s, scale), axes, scale);
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
    // kept is the output's storage: saved as every op's saved tensors are, so that an
    // in-place change of the output (m.detach().fill_(100)) is an error, not a NaN gradient.
    return [x = save(x), kept = save(kept), axes](const Tensor& g, const Node&) -> Grads {
      Tensor mask = ops::binary(BinaryOp::Eq, x.get(), kept.get(), "max");
      Tensor count = ops::sum(mask, axes, true);
      return {mask * (ops::reshape(g, kept.get().shape()) / count)};
    };
  });
}

Tensor argmax(const Tensor& x, int64_t axis, bool keepdim) { return ops::argmax(x, axis, keepdim); }

}  // namespace qtorch
