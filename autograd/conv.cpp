// Differentiable conv2d, max_pool2d and avg_pool2d.
#include "autograd/conv.h"

#include "autograd/node.h"
#include "core/ops.h"

namespace qtorch {
namespace {

struct Conv2dNode final : Node {
  Tensor x, weight;
  bool has_bias = false;
  Conv2dOptions options;
  std::string name() const override { return "conv2d"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    std::vector<Tensor> grads(inputs.size());
    if (needs_input_grad(0)) grads[0] = ops::conv2d_backward_input(g, weight, x.shape(), options);
    if (needs_input_grad(1)) grads[1] = ops::conv2d_backward_weight(g, x, weight.shape(), options);
    if (has_bias && needs_input_grad(2)) grads[2] = ops::sum(g, {0, 2, 3});
    return grads;
  }
  void release() override { x = weight = Tensor(); }
};

struct MaxPool2dNode final : Node {
  Tensor indices;
  Shape x_shape;
  Pool2dOptions options;
  std::string name() const override { return "max_pool2d"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    return {ops::max_pool2d_backward(g, indices, x_shape, options)};
  }
  void release() override { indices = Tensor(); }
};

struct AvgPool2dNode final : Node {
  Shape x_shape;
  Pool2dOptions options;
  std::string name() const override { return "avg_pool2d"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    return {ops::avg_pool2d_backward(g, x_shape, options)};
  }
};

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& options) {
  Tensor out = ops::conv2d(x, weight, bias, options);
  if (!any_requires_grad({&x, &weight, &bias})) return out;
  auto node = std::make_shared<Conv2dNode>();
  node->x = x.detach();
  node->weight = weight.detach();
  node->has_bias = bias.defined();
  node->options = options;
  std::vector<Tensor> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  return attach_node(out, node, inputs);
}

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options) {
  auto [out, indices] = ops::max_pool2d(x, options);
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<MaxPool2dNode>();
  node->indices = indices;
  node->x_shape = x.shape();
  node->options = options;
  return attach_node(out, node, {x});
}

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options) {
  Tensor out = ops::avg_pool2d(x, options);
  if (!any_requires_grad({&x})) return out;
  auto node = std::make_shared<AvgPool2dNode>();
  node->x_shape = x.shape();
  node->options = options;
  return attach_node(out, node, {x});
}

}  // namespace qtorch
