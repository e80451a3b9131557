// Tensor metadata, data transfer, factories and in-place updates.
#include "qtorch/core/tensor.h"

#include <cmath>

#include "qtorch/core/backend.h"
#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/view.h"

namespace qtorch {
namespace {
const TensorImpl& checked(const std::shared_ptr<TensorImpl>& impl) {
  QTORCH_CHECK(impl != nullptr, "tensor: operation on an undefined tensor");
  return *impl;
}
}  // namespace

const Shape& Tensor::shape() const { return checked(impl_).shape; }
const Shape& Tensor::strides() const { return checked(impl_).strides; }
int64_t Tensor::offset() const { return checked(impl_).offset; }
int64_t Tensor::numel() const { return numel_of(shape()); }
Device Tensor::device() const { return checked(impl_).storage->device(); }
const std::shared_ptr<Storage>& Tensor::storage() const { return checked(impl_).storage; }
float* Tensor::data_ptr() const { return storage()->data() + offset(); }

bool Tensor::is_sole_owner() const {
  return impl_ != nullptr && impl_.use_count() == 1 && impl_->storage.use_count() == 1 &&
         impl_->autograd == nullptr && impl_->offset == 0 && is_contiguous() &&
         impl_->storage->numel() == numel();
}

uint64_t Tensor::version() const { return storage()->version(); }

void Tensor::bump_version() const { storage()->bump_version(); }

int64_t Tensor::size(int64_t axis) const { return shape()[wrap_existing_axis(axis, dim(), "size")]; }

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // no element is out of place
  int64_t expected = 1;
  for (size_t i = shape().size(); i-- > 0;) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

Tensor as_strided(const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  return Tensor(impl);
}

Tensor empty(const Shape& shape, Device device) {
  for (int64_t d : shape) QTORCH_CHECK(d >= 0, "empty: expected non-negative sizes, got {}", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(numel_of(shape), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  return Tensor(impl);
}

Tensor full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, device);
  if (t.numel() > 0) backend_for(device).fill(t, value);
  return t;
}
Tensor zeros(const Shape& shape, Device device) { return full(shape, 0.0f, device); }
Tensor ones(const Shape& shape, Device device) { return full(shape, 1.0f, device); }
Tensor empty_like(const Tensor& x) { return empty(x.shape(), x.device()); }
Tensor zeros_like(const Tensor& x) { return zeros(x.shape(), x.device()); }
Tensor ones_like(const Tensor& x) { return ones(x.shape(), x.device()); }

Tensor arange(float start, float end, float step, Device device) {
  QTORCH_CHECK(step != 0.0f && std::isfinite(step), "arange: expected a finite nonzero step, got {}", step);
  QTORCH_CHECK(std::isfinite(start) && std::isfinite(end), "arange: expected a finite start and end, got {} and {}",
               start, end);
  const double count = std::ceil((static_cast<double>(end) - start) / step);
  QTORCH_CHECK(count < 0x1p62, "arange: expected fewer than 2^62 elements, got {} from {} to {} by {}", count,
               start, end, step);
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  Tensor out = empty({n});  // the storage's own size and memory checks
  float* values = out.data_ptr();
  for (int64_t i = 0; i < n; ++i) values[i] = static_cast<float>(start + static_cast<double>(i) * step);
  return out.to(device);
}

Tensor linspace(float start, float end, int64_t steps, Device device) {
  QTORCH_CHECK(steps >= 1, "linspace: expected steps >= 1, got {}", steps);
  Tensor out = empty({steps});
  float* values = out.data_ptr();
  double delta = steps > 1 ? (static_cast<double>(end) - start) / static_cast<double>(steps - 1) : 0.0;
  for (int64_t i = 0; i < steps; ++i) values[i] = static_cast<float>(start + static_cast<double>(i) * delta);
  if (steps > 1) values[steps - 1] = end;
  return out.to(device);
}

Tensor rand(const Shape& shape, Device device) {
  Tensor t = empty(shape, device);
  Generator& g = default_generator();
  uint64_t offset = g.reserve(t.numel());
  if (t.numel() > 0) backend_for(device).random_uniform(t, g.seed(), offset);
  return t;
}

Tensor randn(const Shape& shape, Device device) {
  Tensor t = empty(shape, device);
  Generator& g = default_generator();
  uint64_t offset = g.reserve(t.numel());
  if (t.numel() > 0) backend_for(device).random_normal(t, g.seed(), offset);
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  QTORCH_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape),
               "from_vector: expected {} values for shape {}, got {}", numel_of(shape),
               shape_str(shape), values.size());
  Tensor t = empty(shape, device);
  if (!values.empty()) backend_for(device).copy_from_host(values.data(), t.data_ptr(), t.numel());
  return t;
}

std::vector<float> Tensor::to_vector() const {
  Tensor c = ops::contiguous(*this);
  std::vector<float> values(c.numel());
  if (!values.empty()) backend_for(c.device()).copy_to_host(c.data_ptr(), values.data(), c.numel());
  return values;
}

float Tensor::item() const {
  QTORCH_CHECK(numel() == 1, "item: expected a tensor with one element, got shape {}", shape_str(shape()));
  return to_vector()[0];
}

Tensor Tensor::to(Device target) const {
  if (device() == target) return *this;
  Tensor src = ops::contiguous(*this);
  Tensor out = empty(shape(), target);
  if (numel() == 0) return out;
  if (target.is_cpu()) {
    backend_for(src.device()).copy_to_host(src.data_ptr(), out.data_ptr(), numel());
  } else if (src.device().is_cpu()) {
    backend_for(target).copy_from_host(src.data_ptr(), out.data_ptr(), numel());
  } else {
    return src.cpu().to(target);
  }
  return out;
}

namespace {
detail::InPlaceCheckFn in_place_check = nullptr;  // set by autograd/ (tensor_autograd.cpp)

// What every in-place method does before it writes: autograd's check, then the version.
void begin_in_place(const Tensor& self, const char* op) {
  QTORCH_CHECK(self.defined(), "{}: undefined tensor", op);
  if (self.impl()->autograd != nullptr && in_place_check != nullptr) in_place_check(self, op);
  self.bump_version();
}
}  // namespace

void detail::set_in_place_check(InPlaceCheckFn fn) { in_place_check = fn; }

Tensor& Tensor::zero_() {
  begin_in_place(*this, "zero_");
  if (numel() > 0) backend_for(device()).fill(*this, 0.0f);
  return *this;
}

Tensor& Tensor::fill_(float value) {
  begin_in_place(*this, "fill_");
  if (numel() > 0) backend_for(device()).fill(*this, value);
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  begin_in_place(*this, "copy_");
  ops::copy_into(*this, src);
  return *this;
}

namespace {
// self = self (op) other, written straight into self when self is contiguous (each
// element reads only its own position of self, so writing into it is safe).
void binary_in_place(Tensor& self, BinaryOp op, const Tensor& other, const char* name) {
  // A view of self's own storage laid out differently would be overwritten while read.
  ops::check_writable_elements(self, name);
  const bool overlaps = ops::overlaps_in_other_layout(self, other);
  if (self.is_contiguous() && self.numel() > 0 && !overlaps &&
      broadcast_shapes(self.shape(), other.shape(), name) == self.shape()) {
    ops::check_same_device(name, {&self, &other});
    Tensor b = other.shape() == self.shape() ? other : ops::expand(other, self.shape());
    backend_for(self.device()).binary(op, self, b, self);
    return;
  }
  const Shape out = broadcast_shapes(self.shape(), other.shape(), name);
  QTORCH_CHECK(out == self.shape(), "{}: expected a tensor that broadcasts to {}, the shape written in place, got {}",
               name, shape_str(self.shape()), shape_str(other.shape()));
  ops::copy_into(self, ops::binary(op, self, other, name));
}
}  // namespace

Tensor& Tensor::add_(const Tensor& other, float alpha) {
  begin_in_place(*this, "add_");
  Tensor term = alpha == 1.0f ? other : ops::unary(UnaryOp::MulScalar, other, alpha);
  binary_in_place(*this, BinaryOp::Add, term, "add_");
  return *this;
}

Tensor& Tensor::mul_(float value) {
  begin_in_place(*this, "mul_");
  if (numel() == 0) return *this;
  if (is_contiguous()) {
    backend_for(device()).unary(UnaryOp::MulScalar, *this, *this, value, 0.0f);
  } else {
    ops::check_writable_elements(*this, "mul_");
    ops::copy_into(*this, ops::unary(UnaryOp::MulScalar, *this, value));
  }
  return *this;
}

Tensor& Tensor::mul_(const Tensor& other) {
  begin_in_place(*this, "mul_");
  binary_in_place(*this, BinaryOp::Mul, other, "mul_");
  return *this;
}

}  // namespace qtorch
