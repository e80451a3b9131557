// A node of the autograd graph: one op's backward, with the tensors it saved as members.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace qtorch {

/// One recorded op. Subclasses keep the tensors their backward needs as typed members
/// (saved with detach(), so a node never owns its own output's graph).
class Node {
 public:
  virtual ~Node() = default;
  /// The op's name, e.g. "matmul".
  virtual std::string name() const = 0;
  /// The gradient of each input, in the order of `inputs`, given the output's gradient.
  /// An entry may be undefined when that input needs no gradient. The engine sums
  /// broadcast gradients back to each input's shape, so ops need not.
  virtual std::vector<Tensor> backward(const Tensor& grad_output) = 0;
  /// Drops saved tensors once the graph is freed (after backward without retain_graph).
  virtual void release() {}

  /// True when input i takes part in autograd (skip computing its gradient otherwise).
  bool needs_input_grad(size_t i) const;

  std::vector<Tensor> inputs;         // what the op read, in order
  std::vector<GradHook> hooks;        // hooks registered on the op's output
  bool released = false;
};

/// True when grad mode is on and any of the tensors takes part in autograd.
bool any_requires_grad(std::initializer_list<const Tensor*> tensors);
bool any_requires_grad(const std::vector<Tensor>& tensors);

/// Makes `node` the grad_fn of `out`, reading `inputs`. Returns out.
Tensor attach_node(Tensor out, std::shared_ptr<Node> node, std::vector<Tensor> inputs);

}  // namespace qtorch
