// The autograd methods of Tensor.
#include "qtorch/autograd/autograd_meta.h"
#include "qtorch/autograd/engine.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"

namespace qtorch {
namespace {
AutogradMeta& meta_of(const Tensor& t) {
  QTORCH_CHECK(t.defined(), "autograd: operation on an undefined tensor");
  auto& meta = t.impl()->autograd;
  if (!meta) meta = std::make_shared<AutogradMeta>();
  return *meta;
}

// What Tensor::str() (core/print.cpp) adds for a tensor with autograd state.
std::string autograd_str(const Tensor& t) {
  if (!t.requires_grad()) return "";
  std::string fn = t.grad_fn_name();
  return fn.empty() ? ", requires_grad" : ", grad_fn=" + fn;
}
[[maybe_unused]] const bool autograd_str_registered = (detail::set_autograd_str(&autograd_str), true);

// What the in-place ops of core/tensor.cpp check on a tensor with autograd state. A tensor
// that a recorded op made would keep that op as its grad_fn, so its gradient would ignore
// the change (PyTorch records the in-place op instead): refused with grad mode on.
void check_in_place(const Tensor& t, const char* op) {
  const AutogradMeta& meta = *t.impl()->autograd;
  QTORCH_CHECK(!GradMode::is_enabled() || meta.grad_fn == nullptr,
               "{}: in-place op on a tensor made by '{}' while grad mode is on: its gradient would "
               "ignore the change; write it out of place (y = y * 3), or change y.detach() or run "
               "it under NoGradGuard where the gradient should not see it",
               op, meta.grad_fn ? meta.grad_fn->name() : "");
}
[[maybe_unused]] const bool in_place_check_registered = (detail::set_in_place_check(&check_in_place), true);
}  // namespace

Tensor& Tensor::requires_grad_(bool requires_grad) {
  AutogradMeta& meta = meta_of(*this);
  QTORCH_CHECK(meta.grad_fn == nullptr || requires_grad,
               "requires_grad_: only leaf tensors can stop requiring grad; use detach() on the "
               "output of '{}'", meta.grad_fn ? meta.grad_fn->name() : "");
  meta.requires_grad = requires_grad;
  return *this;
}

bool Tensor::requires_grad() const { return takes_part(*this); }

Tensor Tensor::grad() const {
  QTORCH_CHECK(defined(), "grad: undefined tensor");
  return impl()->autograd ? impl()->autograd->grad : Tensor();
}

void Tensor::set_grad(const Tensor& grad) {
  if (grad.defined()) {
    QTORCH_CHECK(grad.shape() == shape(), "set_grad: expected a gradient of shape {}, got {}",
                 shape_str(shape()), shape_str(grad.shape()));
    ops::check_same_device("set_grad", {this, &grad});
  }
  meta_of(*this).grad = grad;
}

void Tensor::zero_grad() {
  if (defined() && impl()->autograd) impl()->autograd->grad = Tensor();
}

bool Tensor::is_leaf() const {
  QTORCH_CHECK(defined(), "is_leaf: undefined tensor");
  return !impl()->autograd || impl()->autograd->grad_fn == nullptr;
}

void Tensor::backward(bool retain_graph) {
  QTORCH_CHECK(numel() == 1, "backward: an implicit gradient needs a one-element tensor, got shape {}; "
               "pass a gradient", shape_str(shape()));
  run_backward(*this, ones(shape(), device()), retain_graph);
}

void Tensor::backward(const Tensor& grad, bool retain_graph) { run_backward(*this, grad, retain_graph); }

Tensor Tensor::detach() const {
  QTORCH_CHECK(defined(), "detach: undefined tensor");
  auto impl = std::make_shared<TensorImpl>(*this->impl());
  impl->autograd = nullptr;
  return Tensor(impl);
}

void Tensor::register_hook(GradHook fn) {
  QTORCH_CHECK(requires_grad(), "register_hook: the tensor does not require grad");
  AutogradMeta& meta = meta_of(*this);
  if (meta.grad_fn) {
    meta.grad_fn->hooks.push_back(std::move(fn));
  } else {
    meta.hooks.push_back(std::move(fn));
  }
}

std::string Tensor::grad_fn_name() const {
  return defined() && impl()->autograd && impl()->autograd->grad_fn ? impl()->autograd->grad_fn->name() : "";
}

}  // namespace qtorch
