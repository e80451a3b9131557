// Readable printing of tensors: nested brackets, at most 6 items per axis shown.
#include <fmt/format.h>

#include "qtorch/core/tensor.h"

namespace qtorch {
namespace {
detail::AutogradStrFn autograd_str = nullptr;  // set by autograd/ (tensor_autograd.cpp)

void print_axis(std::string& out, const std::vector<float>& v, const Shape& shape, size_t axis,
                int64_t base, int64_t stride_below) {
  if (axis == shape.size()) {
    out += fmt::format("{:.6g}", v[base]);
    return;
  }
  int64_t n = shape[axis];
  int64_t below = stride_below / std::max<int64_t>(n, 1);
  out += "[";
  for (int64_t i = 0; i < n; ++i) {
    if (n > 6 && i == 3) {
      out += "..., ";
      i = n - 3;
    }
    print_axis(out, v, shape, axis + 1, base + i * below, below);
    if (i + 1 < n) out += axis + 1 == shape.size() ? ", " : ",\n" + std::string(axis + 8, ' ');
  }
  out += "]";
}
}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::vector<float> v = to_vector();
  std::string body;
  if (numel() == 0) {
    body = "[]";
  } else {
    print_axis(body, v, shape(), 0, 0, numel());
  }
  std::string extra = device().is_cpu() ? "" : ", device=" + device().str();
  if (impl()->autograd != nullptr && autograd_str != nullptr) extra += autograd_str(*this);
  return fmt::format("tensor({}, shape={}{})", body, shape_str(shape()), extra);
}

void detail::set_autograd_str(AutogradStrFn fn) { autograd_str = fn; }

}  // namespace qtorch
