// CPU elementwise kernels over strided, broadcast inputs: one loop per op over the per-element
// math both devices share (core/scalar_ops.h), which g++ vectorises where it can. exp, log,
// tanh and sigmoid are libm's in every size and layout: an element's result depends on its
// value only. (Contiguous tensors of 4096 elements or more took xsimd's vectorised
// algorithms, about 14 times as fast for exp but 1-3 ulp off libm on some inputs, so one value
// gave other last bits in a large tensor than in a small or strided one.)
#include <algorithm>
#include <cmath>

#include "qtorch/core/cpu/cpu_backend.h"
#include "qtorch/core/cpu/parallel.h"
#include "qtorch/core/cpu/strided_loop.h"
#include "qtorch/core/error.h"
#include "qtorch/core/scalar_ops.h"

namespace qtorch::cpu {
namespace {

// Strided rows are gathered kGather elements at a time into a local buffer, so that f runs
// over contiguous values as in the contiguous loop (vectorised, without a branch per element:
// ReLU's select, for one, became a mispredicted branch in a strided loop).
constexpr int64_t kGather = 64;

template <class F>
void map1(const Tensor& x, const Tensor& out, F f) {
  for_each_row<2>({&out, &x}, [&](int64_t n, std::array<float*, 2> p, std::array<int64_t, 2> s) {
    float* o = p[0];
    const float* a = p[1];
    if (s[0] == 1 && s[1] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
      return;
    }
    float va[kGather];
    for (int64_t i0 = 0; i0 < n; i0 += kGather) {
      const int64_t m = std::min(kGather, n - i0);
      for (int64_t i = 0; i < m; ++i) va[i] = a[(i0 + i) * s[1]];
      if (s[0] == 1) {
        for (int64_t i = 0; i < m; ++i) o[i0 + i] = f(va[i]);
      } else {
        for (int64_t i = 0; i < m; ++i) o[(i0 + i) * s[0]] = f(va[i]);
      }
    }
  });
}

template <class F>
void map2(const Tensor& x, const Tensor& y, const Tensor& out, F f) {
  for_each_row<3>({&out, &x, &y}, [&](int64_t n, std::array<float*, 3> p, std::array<int64_t, 3> s) {
    float* o = p[0];
    const float* a = p[1];
    const float* b = p[2];
    if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
    } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {
      const float bv = b[0];
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], bv);
    } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {
      const float av = a[0];
      for (int64_t i = 0; i < n; ++i) o[i] = f(av, b[i]);
    } else {
      float va[kGather], vb[kGather];
      for (int64_t i0 = 0; i0 < n; i0 += kGather) {
        const int64_t m = std::min(kGather, n - i0);
        for (int64_t i = 0; i < m; ++i) va[i] = a[(i0 + i) * s[1]];
        for (int64_t i = 0; i < m; ++i) vb[i] = b[(i0 + i) * s[2]];
        if (s[0] == 1) {
          for (int64_t i = 0; i < m; ++i) o[i0 + i] = f(va[i], vb[i]);
        } else {
          for (int64_t i = 0; i < m; ++i) o[(i0 + i) * s[0]] = f(va[i], vb[i]);
        }
      }
    }
  });
}

}  // namespace

void CpuBackend::copy(const Tensor& src, const Tensor& out) {
  map1(src, out, [](float v) { return v; });
}

void CpuBackend::fill(const Tensor& out, float value) {
  for_each_row<1>({&out}, [&](int64_t n, std::array<float*, 1> p, std::array<int64_t, 1> s) {
    if (s[0] == 1) {
      for (int64_t i = 0; i < n; ++i) p[0][i] = value;
    } else {
      for (int64_t i = 0; i < n; ++i) p[0][i * s[0]] = value;
    }
  });
}

void CpuBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out, float a, float b) {
  // One loop per op, with its function inlined (core/scalar_ops.h) so that it vectorises.
  const bool known = with_constant_op<UnaryOp, kUnaryOpCount>(op, [&](auto k) {
    map1(x, out, [a, b](float v) { return unary_value(decltype(k)::value, v, a, b); });
  });
  QTORCH_CHECK(known, "cpu unary: unknown op {}", static_cast<int>(op));
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const bool known = with_constant_op<BinaryOp, kBinaryOpCount>(op, [&](auto k) {
    map2(a, b, out, [](float x, float y) { return binary_value(decltype(k)::value, x, y); });
  });
  QTORCH_CHECK(known, "cpu binary: unknown op {}", static_cast<int>(op));
}

void CpuBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  for_each_row<4>({&out, &cond, &a, &b}, [&](int64_t n, std::array<float*, 4> p, std::array<int64_t, 4> s) {
    float* o = p[0];
    const float *c = p[1], *x = p[2], *y = p[3];
    // Contiguous rows, and a scalar b (ReLU's backward: where(out, g, 0)) or a scalar a (a
    // quantizer's clamp mask: where(mask, 0, g)), vectorise.
    if (s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 0) {
      const float yv = y[0];
      for (int64_t i = 0; i < n; ++i) o[i] = where_value(c[i], x[i], yv);
    } else if (s[0] == 1 && s[1] == 1 && s[2] == 0 && s[3] == 1) {
      const float xv = x[0];
      for (int64_t i = 0; i < n; ++i) o[i] = where_value(c[i], xv, y[i]);
    } else if (s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 1) {
      for (int64_t i = 0; i < n; ++i) o[i] = where_value(c[i], x[i], y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i * s[0]] = where_value(c[i * s[1]], x[i * s[2]], y[i * s[3]]);
    }
  });
}

}  // namespace qtorch::cpu
