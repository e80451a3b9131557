// Shapes and strides (in elements) and the helpers every op uses to check them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qtorch {

using Shape = std::vector<int64_t>;

/// Number of elements of a shape (1 for a scalar shape []). Throws naming the shape when a
/// size is negative or the product of the sizes overflows int64.
int64_t numel_of(const Shape& shape);
/// Row-major strides for a shape.
Shape contiguous_strides(const Shape& shape);
/// "[32, 784]"
std::string shape_str(const Shape& shape);
/// NumPy broadcasting of two shapes; throws naming `op` when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
/// Wraps a possibly negative axis into [0, ndim); throws naming `op` when out of range.
int64_t wrap_axis(int64_t axis, int64_t ndim, const char* op);
/// wrap_axis for ops that index one of the tensor's axes (size, slice, narrow): a 0-d tensor
/// has none, and is refused naming the op.
int64_t wrap_existing_axis(int64_t axis, int64_t ndim, const char* op);

}  // namespace qtorch
