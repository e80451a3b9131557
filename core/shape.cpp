// Shape arithmetic shared by all ops.
#include "qtorch/core/shape.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <limits>

#include "qtorch/core/error.h"

namespace qtorch {

int64_t numel_of(const Shape& shape) {
  // The product of the sizes with zeros counted as 1 bounds every contiguous stride, so
  // checking it (not just the possibly zero element count) keeps the strides exact too.
  int64_t n = 1, span = 1;
  for (int64_t d : shape) {
    QTORCH_CHECK(d >= 0, "shape {}: expected sizes >= 0, got {}", shape_str(shape), d);
    QTORCH_CHECK(!__builtin_mul_overflow(span, std::max<int64_t>(d, 1), &span),
                 "shape {}: expected at most {} elements, got more (the product of the sizes "
                 "overflows int64)",
                 shape_str(shape), std::numeric_limits<int64_t>::max());
    n *= d;
  }
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i] > 0 ? shape[i] : 1;
  }
  return strides;
}

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    QTORCH_CHECK(da == db || da == 1 || db == 1, "{}: shapes {} and {} do not broadcast", op,
                 shape_str(a), shape_str(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t wrap_axis(int64_t axis, int64_t ndim, const char* op) {
  int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  QTORCH_CHECK(axis >= lo && axis <= hi, "{}: expected axis in [{}, {}], got {}", op, lo, hi, axis);
  return axis < 0 ? axis + std::max<int64_t>(ndim, 1) : axis;
}

int64_t wrap_existing_axis(int64_t axis, int64_t ndim, const char* op) {
  QTORCH_CHECK(ndim >= 1, "{}: expected a tensor with at least 1 dimension for axis {}, got a 0-d tensor", op,
               axis);
  return wrap_axis(axis, ndim, op);
}

}  // namespace qtorch
