// The element ops a quantize kernel takes into its pass (ElementOps, quant/quantize_cuda.h):
// a layer's bias add or ReLU's backward on each element before it is quantized, and a ReLU
// on the quantized value after. Each is the scalar rule of the op it stands in for.
#pragma once

#include <cstdint>

#include "qtorch/core/relu_math.h"
#include "qtorch/quant/quantize_cuda.h"

namespace qtorch::quant {

/// v + the bias of flat element e (BiasAdd); v itself without one. One float32 addition
/// rounded to nearest (never contracted), as ops::add's. `Inner`: the general index
/// (e / inner) % period; otherwise the last axis's, e % period (inner 1), which keeps the
/// elementwise kernels' registers where they were.
template <bool Inner>
__device__ __forceinline__ float plus_bias(float v, const BiasAdd& bias, int64_t e) {
  if (bias.values == nullptr) return v;
  uint32_t i = static_cast<uint32_t>(e);
  if constexpr (Inner) i /= static_cast<uint32_t>(bias.inner);
  return __fadd_rn(v, bias.values[i % static_cast<uint32_t>(bias.period)]);
}

/// Flat element e's value v after the ops before quantizing: where(gate, v, 0), then the bias.
template <bool Inner>
__device__ __forceinline__ float before_quantize(float v, const ElementOps& ops, int64_t e) {
  if (ops.gate != nullptr) v = relu_grad(ops.gate[e], v);
  return plus_bias<Inner>(v, ops.bias, e);
}

/// Four consecutive values of group g (elements 4g..4g+3, all below n when `whole`, then
/// read as one float4) after the ops before quantizing; bias along the last axis only.
__device__ __forceinline__ void before_quantize4(float (&v)[4], const ElementOps& ops, int64_t g, int64_t n,
                                                 bool whole) {
  const int64_t e0 = g * 4;
  if (ops.gate != nullptr) {
    float gate[4];
    if (whole) {
      const float4 f = reinterpret_cast<const float4*>(ops.gate)[g];
      gate[0] = f.x, gate[1] = f.y, gate[2] = f.z, gate[3] = f.w;
    } else {
#pragma unroll
      for (int k = 0; k < 4; ++k) gate[k] = e0 + k < n ? ops.gate[e0 + k] : 0.0f;
    }
#pragma unroll
    for (int k = 0; k < 4; ++k) v[k] = relu_grad(gate[k], v[k]);
  }
  if (ops.bias.values != nullptr) {
#pragma unroll
    for (int k = 0; k < 4; ++k)
      if (e0 + k < n) v[k] = plus_bias<false>(v[k], ops.bias, e0 + k);
  }
}

/// The value stored for a quantized value q: q, or relu_value(q).
__device__ __forceinline__ float after_quantize(float q, const ElementOps& ops) {
  return ops.relu ? relu_value(q) : q;
}

}  // namespace qtorch::quant
