// Indices kept as float32 (tensors hold floats): class targets, argmax's result and max
// pooling's positions. Written once for the CPU backend and the CUDA kernels.
#pragma once

#include <cmath>
#include <cstdint>

#include "qtorch/core/hostdevice.h"

namespace qtorch {

/// The largest index a float32 holds with every smaller one: 2^24 (2^24 + 1 rounds to it).
inline constexpr int64_t kMaxFloatIndex = int64_t{1} << 24;

/// v is a whole number in [0, cols): a class of a row of `cols` (cross_entropy's targets,
/// nll_loss's gather and its backward's scatter). The bound is compared in double: float(cols)
/// rounds (2^24 + 1 classes became 2^24 and refused the last class).
QTORCH_HD bool is_class_index(float v, int64_t cols) {
  return v >= 0.0f && static_cast<double>(v) < static_cast<double>(cols) && v == floorf(v);
}

}  // namespace qtorch
