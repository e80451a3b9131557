// The autograd state of a tensor: whether it needs a gradient, its gradient (leaves),
// the node that produced it (non-leaves) and hooks registered on a leaf.
#pragma once

#include <memory>
#include <vector>

#include "qtorch/autograd/node.h"
#include "qtorch/core/tensor.h"

namespace qtorch {

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  std::vector<GradHook> hooks;  // leaf hooks; a non-leaf's hooks live on its grad_fn
};

/// True when x takes part in autograd (a leaf that requires grad, or an op's output).
inline bool takes_part(const Tensor& x) {
  if (!x.defined() || !x.impl()->autograd) return false;
  return x.impl()->autograd->requires_grad || x.impl()->autograd->grad_fn != nullptr;
}

}  // namespace qtorch
