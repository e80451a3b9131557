// Recording op nodes into the graph.
#include "qtorch/autograd/node.h"

#include "qtorch/autograd/autograd_meta.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"
#include "qtorch/core/shape.h"

namespace qtorch {

SavedTensor::SavedTensor(const Tensor& t)
    : tensor_(t.defined() ? t.detach() : t), version_(t.defined() ? t.version() : 0) {}

const Tensor& SavedTensor::get() const {
  QTORCH_CHECK(!tensor_.defined() || tensor_.version() == version_,
               "a tensor of shape {} that the gradient needs was changed by an in-place op after "
               "the forward saved it (its version is {}, it was saved at {}); change a clone, or "
               "make the change after backward",
               shape_str(tensor_.shape()), tensor_.version(), version_);
  return tensor_;
}

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
