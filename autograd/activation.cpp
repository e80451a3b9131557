// Differentiable activations, softmax / log-softmax and dropout.
#include "autograd/activation.h"

#include "autograd/elementwise.h"
#include "autograd/node.h"
#include "autograd/reduce.h"
#include "core/error.h"
#include "core/generator.h"
#include "core/ops.h"

namespace qtorch {
namespace {

struct ReluNode final : Node {
  Tensor out;
  std::string name() const override { return "relu"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    return {g * ops::unary(UnaryOp::GtScalar, out, 0.0f)};
  }
  void release() override { out = Tensor(); }
};

struct SigmoidNode final : Node {
  Tensor out;
  std::string name() const override { return "sigmoid"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {g * out * (1.0f - out)}; }
  void release() override { out = Tensor(); }
};

struct TanhNode final : Node {
  Tensor out;
  std::string name() const override { return "tanh"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {g * (1.0f - out * out)}; }
  void release() override { out = Tensor(); }
};

struct SoftmaxNode final : Node {
  Tensor out;
  int64_t axis = -1;
  bool log = false;
  std::string name() const override { return log ? "log_softmax" : "softmax"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    if (log) {  // g - softmax * sum(g)
      return {g - exp(out) * ops::sum(g, {axis}, true)};
    }
    return {out * (g - ops::sum(g * out, {axis}, true))};  // s * (g - sum(g * s))
  }
  void release() override { out = Tensor(); }
};

struct MaskNode final : Node {  // dropout: y = x * mask, mask already scaled
  Tensor mask;
  std::string name() const override { return "dropout"; }
  std::vector<Tensor> backward(const Tensor& g) override { return {g * mask}; }
  void release() override { mask = Tensor(); }
};

template <class N>
Tensor unary_activation(const Tensor& x, UnaryOp op) {
  Tensor out = ops::unary(op, x);
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<N>();
  node->out = out.detach();
  return attach_node(out, node, {x});
}

Tensor softmax_impl(const Tensor& x, int64_t axis, bool log) {
  Tensor out = ops::softmax(x, axis, log);
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<SoftmaxNode>();
  node->out = out.detach();
  node->axis = axis;
  node->log = log;
  return attach_node(out, node, {x});
}

}  // namespace

Tensor relu(const Tensor& x) { return unary_activation<ReluNode>(x, UnaryOp::Relu); }
Tensor sigmoid(const Tensor& x) { return unary_activation<SigmoidNode>(x, UnaryOp::Sigmoid); }
Tensor tanh(const Tensor& x) { return unary_activation<TanhNode>(x, UnaryOp::Tanh); }
Tensor softmax(const Tensor& x, int64_t axis) { return softmax_impl(x, axis, false); }
Tensor log_softmax(const Tensor& x, int64_t axis) { return softmax_impl(x, axis, true); }

Tensor dropout(const Tensor& x, float p, bool training) {
  QTORCH_CHECK(p >= 0.0f && p <= 1.0f, "dropout: expected p in [0, 1], got {}", p);
  if (!training || p == 0.0f) return x;
  // keep with probability 1 - p, scaled by 1 / (1 - p); p = 1 drops everything.
  Tensor keep = ops::unary(UnaryOp::GeScalar, rand(x.shape(), x.device()), p);
  Tensor mask = p < 1.0f ? ops::unary(UnaryOp::MulScalar, keep, 1.0f / (1.0f - p)) : keep;
  Tensor out = ops::binary(BinaryOp::Mul, x, mask, "dropout");
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<MaskNode>();
  node->mask = mask;
  return attach_node(out, node, {x});
}

}  // namespace qtorch
