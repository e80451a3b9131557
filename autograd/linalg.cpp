// Differentiable matmul and linear. Backward passes transposed views to BLAS as flags.
#include "qtorch/autograd/linalg.h"

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/node.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/view.h"

namespace qtorch {
Tensor matmul(const Tensor& a, const Tensor& b) {
  return record("matmul", ops::matmul(a, b), {a, b}, [&] {
    return [a = save(a), b = save(b)](const Tensor& g, const Node& n) -> Grads {
      // dA = g B^T, dB = A^T g; broadcast batch axes are summed back by the engine.
      return {n.needs_input_grad(0) ? ops::matmul(g, ops::transpose(b.get(), -1, -2)) : Tensor(),
              n.needs_input_grad(1) ? ops::matmul(ops::transpose(a.get(), -1, -2), g) : Tensor()};
    };
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  QTORCH_CHECK(weight.defined() && weight.dim() == 2, "linear: expected weight [out, in], got {}",
               weight.defined() ? shape_str(weight.shape()) : "undefined");
  QTORCH_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == weight.size(1),
               "linear: expected input [*, {}], got {}", weight.size(1),
               x.defined() ? shape_str(x.shape()) : "undefined");
  if (bias.defined()) {
    QTORCH_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "linear: expected bias [{}], got {}",
                 weight.size(0), shape_str(bias.shape()));
  }
  // [*, in] as [rows, in]; the rows counted, not inferred with -1, which no shape of 0 features allows
  const Shape lead(x.shape().begin(), x.shape().end() - 1);
  Tensor x2 = x.dim() == 2 ? x : x.reshape({numel_of(lead), x.size(-1)});
  // y = x W^T for x [N, in] and W [out, in]. Its own node rather than matmul(x, W.t()): that
  // would give W the transpose of a contiguous [in, out] gradient, which the engine then
  // copies element by element into W's layout (5-9% of an MLP training step).
  Tensor y = record("linear", ops::matmul(x2, ops::transpose(weight, 0, 1)), {x2, weight}, [&] {
    return [x = save(x2), w = save(weight)](const Tensor& g, const Node& n) -> Grads {
      // dX = g W, dW = g^T X: both [rows, cols] as their inputs, the transpose a BLAS flag.
      return {n.needs_input_grad(0) ? ops::matmul(g, w.get()) : Tensor(),
              n.needs_input_grad(1) ? ops::matmul(ops::transpose(g, 0, 1), x.get()) : Tensor()};
    };
  });
  if (bias.defined()) y = y + bias;
  if (x.dim() == 2) return y;
  Shape out_shape = x.shape();
  out_shape.back() = weight.size(0);
  return y.reshape(out_shape);
}

}  // namespace qtorch
