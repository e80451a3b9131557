// Tensor: a cheap shared handle over device storage with shape, strides and offset.
// Data access lives here; the autograd state is an opaque pointer owned by autograd/.
// The differentiable view methods and the autograd methods are declared here but defined
// in autograd/: core code must not call them (core_standalone_test links core alone) and
// uses the non-recording primitives of core/view.h instead.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "qtorch/core/device.h"
#include "qtorch/core/shape.h"
#include "qtorch/core/storage.h"

namespace qtorch {

struct AutogradMeta;  // autograd/autograd_meta.h
class Tensor;

/// A gradient hook maps the incoming gradient to the one that flows on.
using GradHook = std::function<Tensor(const Tensor&)>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;  // in elements
  int64_t offset = 0;
  std::shared_ptr<AutogradMeta> autograd;  // null for tensors that never took part in autograd
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t offset() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  /// Size of one axis (negative axes count from the end).
  int64_t size(int64_t axis) const;
  int64_t numel() const;
  Device device() const;
  bool is_contiguous() const;
  /// Pointer to the first element (a device pointer for CUDA tensors).
  float* data_ptr() const;
  const std::shared_ptr<Storage>& storage() const;
  TensorImpl* impl() const { return impl_.get(); }
  /// True when both handles refer to the same tensor object.
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  /// True when nothing but this handle reaches the tensor's memory: no other handle to
  /// the tensor, no view of its storage, no autograd record, and it spans its whole
  /// storage contiguously. Such a tensor can be handed on without a defensive copy.
  bool is_sole_owner() const;
  /// How many in-place writes this tensor's memory has had (shared with every view of it).
  uint64_t version() const;
  /// Records an in-place write into this tensor's memory. Every in-place op and `_into`
  /// function does; code that writes through data_ptr() into a tensor it did not just make
  /// calls it, so that a gradient computed from the old values is refused (SavedTensor).
  void bump_version() const;

  // ---- data in and out ----
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape,
                            Device device = Device::cpu());
  std::vector<float> to_vector() const;
  /// The value of a one-element tensor.
  float item() const;
  Tensor to(Device device) const;
  Tensor cpu() const { return to(Device::cpu()); }
  Tensor cuda(int index = 0) const { return to(Device::cuda(index)); }
  /// Multi-line readable form, e.g. "tensor([[1, 2], [3, 4]], shape=[2, 2])".
  std::string str() const;

  // ---- views and copies (differentiable; defined in autograd/shape.cpp on core/view.h) ----
  Tensor reshape(const Shape& shape) const;
  /// Like reshape, but never copies: throws when the strides do not allow a view.
  Tensor view(const Shape& shape) const;
  Tensor flatten(int64_t start_axis = 0, int64_t end_axis = -1) const;
  Tensor transpose(int64_t axis0, int64_t axis1) const;
  /// Transpose of a 2-D tensor; a tensor of 0 or 1 axes is its own transpose (a view of it),
  /// more axes are refused (PyTorch's t()).
  Tensor t() const;
  Tensor permute(const Shape& axes) const;
  Tensor slice(int64_t axis, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor narrow(int64_t axis, int64_t start, int64_t length) const;
  Tensor squeeze(int64_t axis) const;
  Tensor unsqueeze(int64_t axis) const;
  Tensor expand(const Shape& shape) const;
  Tensor contiguous() const;
  Tensor clone() const;

  // ---- autograd (defined in autograd/tensor_autograd.cpp) ----
  Tensor& requires_grad_(bool requires_grad = true);
  bool requires_grad() const;
  /// The accumulated gradient of a leaf (undefined until a backward pass reaches it).
  Tensor grad() const;
  void set_grad(const Tensor& grad);
  /// Drops the accumulated gradient.
  void zero_grad();
  bool is_leaf() const;
  /// Backward from a one-element tensor with an implicit gradient of 1.
  void backward(bool retain_graph = false);
  void backward(const Tensor& grad, bool retain_graph = false);
  /// Same data, cut from the graph.
  Tensor detach() const;
  /// fn runs when this tensor's gradient is complete; its result replaces the gradient.
  void register_hook(GradHook fn);
  /// A short name of the op that made this tensor ("" for leaves).
  std::string grad_fn_name() const;

  // ---- in-place (not differentiable: for optimizers and initialisation) ----
  // Each bumps the version. With grad mode on, a tensor made by a recorded op (one with a
  // grad_fn) is refused: its gradient would ignore the change. A leaf that requires grad is
  // allowed (an optimizer's update), but a backward that reads it as saved by an op before
  // the change throws, as PyTorch does.
  Tensor& zero_();
  Tensor& fill_(float value);
  /// Copies `src` (broadcast to this shape, any device) into this tensor's elements.
  Tensor& copy_(const Tensor& src);
  /// this += alpha * other
  Tensor& add_(const Tensor& other, float alpha = 1.0f);
  Tensor& mul_(float value);
  Tensor& mul_(const Tensor& other);

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// ---- factories ----
Tensor empty(const Shape& shape, Device device = Device::cpu());
Tensor zeros(const Shape& shape, Device device = Device::cpu());
Tensor ones(const Shape& shape, Device device = Device::cpu());
Tensor full(const Shape& shape, float value, Device device = Device::cpu());
/// start, start+step, ... below end.
Tensor arange(float start, float end, float step = 1.0f, Device device = Device::cpu());
Tensor linspace(float start, float end, int64_t steps, Device device = Device::cpu());
/// Uniform in [0, 1), from the global seeded generator.
Tensor rand(const Shape& shape, Device device = Device::cpu());
/// Standard normal, from the global seeded generator.
Tensor randn(const Shape& shape, Device device = Device::cpu());
Tensor zeros_like(const Tensor& x);
Tensor ones_like(const Tensor& x);
Tensor empty_like(const Tensor& x);

namespace detail {
/// The autograd part of Tensor::str() (", requires_grad" or ", grad_fn=NAME", else "") for
/// a tensor with autograd state. autograd/ registers it when loaded: core/ calls no code of
/// autograd/ directly, and only autograd/ gives a tensor autograd state.
using AutogradStrFn = std::string (*)(const Tensor&);
void set_autograd_str(AutogradStrFn fn);
/// The check the in-place ops run on a tensor with autograd state (op is e.g. "mul_"):
/// registered by autograd/, which knows the grad mode.
using InPlaceCheckFn = void (*)(const Tensor& self, const char* op);
void set_in_place_check(InPlaceCheckFn fn);
}  // namespace detail

/// A view with explicit shape, strides and offset over x's storage (no checks of bounds
/// beyond the storage size; not differentiable).
Tensor as_strided(const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset);

}  // namespace qtorch
