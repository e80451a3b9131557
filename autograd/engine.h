// The backward engine: an iterative reverse topological walk over the graph.
#pragma once

#include "qtorch/core/tensor.h"

namespace qtorch {

/// Propagates `grad` from `root` to every leaf that requires grad, accumulating into
/// their grad(). Broadcast gradients are summed back to each input's shape here, hooks
/// run when a tensor's gradient is complete, and the graph is freed unless retain_graph.
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);

}  // namespace qtorch
