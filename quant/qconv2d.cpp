// qconv2d: im2col, then qmatmul's chains, with the backward GEMMs as chains of their own.
#include "qtorch/quant/qconv2d.h"

#include <vector>

#include "qtorch/autograd/grad_mode.h"
#include "qtorch/autograd/node.h"
#include "qtorch/core/backend.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/view.h"

namespace qtorch::quant {
namespace {

/// The im2col matrix [C*kh*kw, N*OH*OW] of x.
Tensor columns(const Tensor& x, const Window2d& g) {
  Tensor col = empty({g.c * g.kh * g.kw, g.n * g.out_h * g.out_w}, x.device());
  backend_for(x.device()).im2col(x, x.size(1), 0, g, col);
  return col;
}

}  // namespace

Tensor qconv2d(const Tensor& x_in, const Tensor& weight_in, const Tensor& bias, const Conv2dParams& params,
               const std::optional<MacOptions>& forward, const std::optional<MacOptions>& backward) {
  if (forward) forward->validate();
  if (backward) backward->validate();
  QTORCH_CHECK(params.groups == 1, "qconv2d: expected groups = 1, got groups={}", params.groups);
  const Window2d g = ops::conv2d_geometry(x_in, weight_in, params);
  const int64_t out_c = weight_in.size(0), ckk = g.c * g.kh * g.kw;
  if (bias.defined()) {
    QTORCH_CHECK(bias.dim() == 1 && bias.size(0) == out_c, "qconv2d: expected bias [{}], got {}", out_c,
                 shape_str(bias.shape()));
  }
  Tensor y;
  Tensor col;
  {
    NoGradGuard no_grad;
    const Tensor x = ops::contiguous(x_in);
    col = columns(x, g);
    const Tensor w2 = ops::reshape(ops::contiguous(weight_in), {out_c, ckk});
    const Tensor y2 = product_with(w2, col, forward);  // [O, N*OH*OW]
    y = ops::contiguous(ops::permute(ops::reshape(y2, {out_c, g.n, g.out_h, g.out_w}), {1, 0, 2, 3}));
    if (bias.defined())
      y = ops::binary(BinaryOp::Add, y, ops::reshape(bias, {1, out_c, 1, 1}), "qconv2d");
  }
  std::vector<Tensor> inputs{x_in, weight_in};
  if (bias.defined()) inputs.push_back(bias);
  return record("qconv2d", y, std::move(inputs), [&] {
    return [col, saved_w = save(weight_in), x_shape = x_in.shape(), g, backward](const Tensor& grad,
                                                                                const Node& n) -> Grads {
      const Tensor& w = saved_w.get();
      const int64_t o = w.size(0), k = col.size(0);
      // [N, O, OH, OW] -> [O, N*OH*OW]
      const Tensor dy = ops::reshape(ops::contiguous(ops::permute(grad, {1, 0, 2, 3})), {o, col.size(1)});
      Grads grads(n.inputs.size());
      if (n.needs_input_grad(0)) {
        const Tensor w2t = ops::transpose(ops::reshape(ops::contiguous(w), {o, k}), 0, 1);
        const Tensor dcol = ops::contiguous(product_with(w2t, dy, backward));
        Tensor dx = zeros(x_shape, grad.device());
        backend_for(grad.device()).col2im(dcol, x_shape[1], 0, g, dx);
        grads[0] = dx;
      }
      if (n.needs_input_grad(1))
        grads[1] = ops::reshape(product_with(dy, ops::transpose(col, 0, 1), backward), w.shape());
      if (n.needs_input_grad(2)) grads[2] = ops::sum(grad, {0, 2, 3});
      return grads;
    };
  });
}

}  // namespace qtorch::quant
