// Differentiable activations, softmax / log-softmax and dropout.
#include "qtorch/autograd/activation.h"

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/node.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/core/ops.h"

namespace qtorch {
namespace {

Tensor softmax_impl(const Tensor& x, int64_t axis, bool log) {
  Tensor out = ops::softmax(x, axis, log);
  return record(log ? "log_softmax" : "softmax", out, {x}, [&] {
    return [saved_out = save(out), axis, log](const Tensor& g, const Node&) -> Grads {
      const Tensor& out = saved_out.get();
      if (log) return {g - exp(out) * ops::sum(g, {axis}, true)};  // g - softmax * sum(g)
      return {out * (g - ops::sum(g * out, {axis}, true))};         // s * (g - sum(g * s))
    };
  });
}

}  // namespace

Tensor relu(const Tensor& x) {
  Tensor out = ops::unary(UnaryOp::Relu, x);
  return record("relu", out, {x}, [&] {
    // g where the output is not zero, else 0: one pass (as PyTorch's threshold_backward, a NaN
    // output passes g on).
    return [out = save(out)](const Tensor& g, const Node&) -> Grads {
      return {ops::where(out.get(), g, zeros({}, g.device()))};
    };
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = ops::unary(UnaryOp::Sigmoid, x);
  return record("sigmoid", out, {x}, [&] {
    return [saved_out = save(out)](const Tensor& g, const Node&) -> Grads {
      const Tensor& out = saved_out.get();
      return {g * out * (1.0f - out)};
    };
  });
}

Tensor tanh(const Tensor& x) {
  Tensor out = ops::unary(UnaryOp::Tanh, x);
  return record("tanh", out, {x}, [&] {
    return [saved_out = save(out)](const Tensor& g, const Node&) -> Grads {
      const Tensor& out = saved_out.get();
      return {g * (1.0f - out * out)};
    };
  });
}

Tensor softmax(const Tensor& x, int64_t axis) { return softmax_impl(x, axis, false); }
Tensor log_softmax(const Tensor& x, int64_t axis) { return softmax_impl(x, axis, true); }

Tensor dropout(const Tensor& x, float p, bool training) {
  QTORCH_CHECK(p >= 0.0f && p <= 1.0f, "dropout: expected p in [0, 1], got {}", p);
  if (!training || p == 0.0f) return x;
  // keep with probability 1 - p, scaled by 1 / (1 - p); p = 1 drops everything.
  Tensor keep = ops::unary(UnaryOp::GeScalar, rand(x.shape(), x.device()), p);
  Tensor mask = p < 1.0f ? ops::unary(UnaryOp::MulScalar, keep, 1.0f / (1.0f - p)) : keep;
  return record("dropout", ops::binary(BinaryOp::Mul, x, mask, "dropout"), {x}, [&] {
    return [mask](const Tensor& g, const Node&) -> Grads { return {g * mask}; };  // mask already scaled
  });
}

}  // namespace qtorch
