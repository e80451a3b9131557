// Differentiable conv2d, max_pool2d and avg_pool2d.
#include "qtorch/autograd/conv.h"

#include "qtorch/autograd/node.h"
#include "qtorch/core/ops.h"

namespace qtorch {
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& options) {
  std::vector<Tensor> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  return record("conv2d", ops::conv2d(x, weight, bias, options), std::move(inputs), [&] {
    return [saved_x = save(x), saved_weight = save(weight), options](const Tensor& g, const Node& n) -> Grads {
      const Tensor& x = saved_x.get();
      const Tensor& weight = saved_weight.get();
      Grads grads(n.inputs.size());
      if (n.needs_input_grad(0)) grads[0] = ops::conv2d_backward_input(g, weight, x.shape(), options);
      if (n.needs_input_grad(1)) grads[1] = ops::conv2d_backward_weight(g, x, weight.shape(), options);
      if (n.needs_input_grad(2)) grads[2] = ops::sum(g, {0, 2, 3});  // only with a bias
      return grads;
    };
  });
}

Tensor max_pool2d(const Tensor& x, const Pool2dParams& options) {
  // Named variables, not a structured binding: clang before 16 cannot capture one in a lambda.
  std::pair<Tensor, Tensor> pooled = ops::max_pool2d(x, options);
  const Tensor& out = pooled.first;
  const Tensor& indices = pooled.second;
  return record("max_pool2d", out, {x}, [&] {
    return [indices, x_shape = x.shape(), options](const Tensor& g, const Node&) -> Grads {
      return {ops::max_pool2d_backward(g, indices, x_shape, options)};
    };
  });
}

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& options) {
  return record("avg_pool2d", ops::avg_pool2d(x, options), {x}, [&] {
    return [x_shape = x.shape(), options](const Tensor& g, const Node&) -> Grads {
      return {ops::avg_pool2d_backward(g, x_shape, options)};
    };
  });
}

}  // namespace qtorch
