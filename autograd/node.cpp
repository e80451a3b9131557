// Recording op nodes into the graph.
#include "qtorch/autograd/node.h"

#include "qtorch/autograd/autograd_meta.h"
#include "qtorch/autograd/grad_mode.h"

namespace qtorch {

bool Node::needs_input_grad(size_t i) const { return i < inputs.size() && takes_part(inputs[i]); }

bool any_requires_grad(std::initializer_list<const Tensor*> tensors) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor* t : tensors) {
    if (takes_part(*t)) return true;
  }
  return false;
}

bool any_requires_grad(std::initializer_list<Tensor> tensors) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : tensors) {
    if (takes_part(t)) return true;
  }
  return false;
}

bool any_requires_grad(const std::vector<Tensor>& tensors) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : tensors) {
    if (takes_part(t)) return true;
  }
  return false;
}

Tensor attach_node(Tensor out, std::shared_ptr<Node> node, std::vector<Tensor> inputs) {
  node->inputs = std::move(inputs);
  auto meta = std::make_shared<AutogradMeta>();
  meta->grad_fn = std::move(node);
  // A fresh handle, so views that share out's TensorImpl are not affected.
  auto impl = std::make_shared<TensorImpl>(*out.impl());
  impl->autograd = std::move(meta);
  return Tensor(impl);
}

Tensor attach_function(std::string name, Tensor out, std::vector<Tensor> inputs, BackwardFn backward) {
  return attach_node(std::move(out), std::make_shared<FunctionNode>(std::move(name), std::move(backward)),
                     std::move(inputs));
}

}  // namespace qtorch
