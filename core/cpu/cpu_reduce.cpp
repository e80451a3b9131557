// CPU reductions over [outer, n, inner]. Each output is summed in a fixed order, so the
// result does not depend on the number of threads.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "qtorch/core/cpu/cpu_backend.h"
#include "qtorch/core/cpu/parallel.h"

namespace qtorch::cpu {
namespace {

// The reduction of one contiguous row to its largest (IsMax) or smallest value, as the
// strided loop below defines it: the row's first NaN if it holds one, else of the values
// equal to the extreme the first (which tells +0 from -0). The extreme is found over 16
// lanes (one vector, a compare and a select per 16 values); equal nonzero values have equal
// bits, so only a NaN or a zero extreme needs the row's first such element, found by a
// second pass.
using Floats16 = float __attribute__((vector_size(64)));
using Ints16 = int32_t __attribute__((vector_size(64)));

template <bool IsMax>
float row_extreme(const float* row, int64_t n) {
  constexpr int64_t kLanes = 16;
  Floats16 best = Floats16{} + row[0];
  Ints16 unordered = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    Floats16 v;
    std::memcpy(&v, row + i, sizeof v);
    unordered |= v != v;
    best = (IsMax ? v > best : v < best) ? v : best;
  }
  bool any_nan = false;
  float extreme = best[0];
  for (int l = 0; l < kLanes; ++l) {
    any_nan |= unordered[l] != 0;
    extreme = (IsMax ? best[l] > extreme : best[l] < extreme) ? best[l] : extreme;
  }
  for (; i < n; ++i) {
    const float v = row[i];
    any_nan |= v != v;
    extreme = (IsMax ? v > extreme : v < extreme) ? v : extreme;
  }
  if (any_nan) {
    for (int64_t j = 0; j < n; ++j)
      if (std::isnan(row[j])) return row[j];
  }
  if (extreme == 0.0f) {
    for (int64_t j = 0; j < n; ++j)
      if (row[j] == 0.0f) return row[j];
  }
  return extreme;
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
                        const Tensor& out) {
  const float* in = x.data_ptr();
  float* o = out.data_ptr();
  const bool parallel = outer * n * inner > kParallelGrain;
  if (inner == 1 && op == ReduceOp::Sum) {
    // Rows: fixed blocks of 1024 summed in float in order (one add after another, so every
    // build gives the same bits), block sums in double.
    parallel_for(outer, parallel && outer > 1, [&](int64_t r) {
      const float* row = in + r * n;
      double total = 0.0;
      for (int64_t b = 0; b < n; b += 1024) {
        float s = 0.0f;
        int64_t e = std::min(n, b + 1024);
        for (int64_t i = b; i < e; ++i) s += row[i];
        total += s;
      }
      o[r] = static_cast<float>(total);
    });
    return;
  }
  if (inner == 1 && (op == ReduceOp::Max || op == ReduceOp::Min)) {
    parallel_for(outer, parallel && outer > 1, [&](int64_t r) {
      o[r] = op == ReduceOp::Max ? row_extreme<true>(in + r * n, n) : row_extreme<false>(in + r * n, n);
    });
    return;
  }
  parallel_for(outer, parallel, [&](int64_t r) {
    const float* base = in + r * n * inner;
    float* dst = o + r * inner;
    switch (op) {
      case ReduceOp::Sum:
        for (int64_t i = 0; i < inner; ++i) dst[i] = 0.0f;
        for (int64_t j = 0; j < n; ++j) {
          const float* src = base + j * inner;
          for (int64_t i = 0; i < inner; ++i) dst[i] += src[i];
        }
        break;
      case ReduceOp::Max:
      case ReduceOp::Min: {
        const bool is_max = op == ReduceOp::Max;
        for (int64_t i = 0; i < inner; ++i) dst[i] = base[i];
        for (int64_t j = 1; j < n; ++j) {
          const float* src = base + j * inner;
          for (int64_t i = 0; i < inner; ++i) {
            float v = src[i];
            if (std::isnan(v) || (is_max ? v > dst[i] : v < dst[i])) dst[i] = std::isnan(dst[i]) ? dst[i] : v;
          }
        }
        break;
      }
      case ReduceOp::ArgMax:
        for (int64_t i = 0; i < inner; ++i) {
          int64_t best = 0;
          float best_v = base[i];
          for (int64_t j = 1; j < n; ++j) {
            float v = base[j * inner + i];
            if (!std::isnan(best_v) && (v > best_v || std::isnan(v))) {
              best = j;
              best_v = v;
            }
          }
          dst[i] = static_cast<float>(best);
        }
        break;
    }
  });
}

}  // namespace qtorch::cpu
