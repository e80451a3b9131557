// The elementwise functions of the backends (UnaryOp, BinaryOp, where) on one float, written
// once for every device: the CPU backend's loops (core/cpu/cpu_elementwise.cpp) and the CUDA
// kernels (core/cuda/elementwise_kernels.cuh) both call these, so NaN, signs and special cases
// agree by construction.
#pragma once

#include <cmath>
#include <type_traits>
#include <utility>

#include "qtorch/core/backend.h"  // UnaryOp, BinaryOp
#include "qtorch/core/hostdevice.h"
#include "qtorch/core/relu_math.h"

namespace qtorch {

/// op(x) with the scalar parameters a and b. Called with a constant op the switch folds away,
/// which lets the CPU's loops vectorise.
QTORCH_HD float unary_value(UnaryOp op, float x, float a, float b) {
  switch (op) {
    case UnaryOp::Copy: return x;
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return expf(x);
    case UnaryOp::Log: return logf(x);
    case UnaryOp::Sqrt: return sqrtf(x);
    case UnaryOp::Abs: return fabsf(x);
    case UnaryOp::Sign: return static_cast<float>((x > 0.0f) - (x < 0.0f));
    case UnaryOp::Relu: return relu_value(x);
    case UnaryOp::Sigmoid: return 1.0f / (1.0f + expf(-x));
    case UnaryOp::Tanh: return tanhf(x);
    case UnaryOp::AddScalar: return x + a;
    case UnaryOp::MulScalar: return x * a;
    case UnaryOp::PowScalar: return a == 2.0f ? x * x : powf(x, a);
    case UnaryOp::RSubScalar: return a - x;
    case UnaryOp::RDivScalar: return a / x;
    case UnaryOp::Clamp: {
      if (x != x) return x;    // NaN stays
      float lo = x < a ? a : x;  // std::max(x, a)
      return b < lo ? b : lo;    // std::min(lo, b)
    }
    case UnaryOp::GtScalar: return x > a ? 1.0f : 0.0f;
    case UnaryOp::LtScalar: return x < a ? 1.0f : 0.0f;
    case UnaryOp::GeScalar: return x >= a ? 1.0f : 0.0f;
    case UnaryOp::EqScalar: return x == a ? 1.0f : 0.0f;
  }
  return x;
}

/// op(x, y). Maximum and Minimum propagate a NaN in either argument.
QTORCH_HD float binary_value(BinaryOp op, float x, float y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: return x / y;
    case BinaryOp::Pow: return powf(x, y);
    case BinaryOp::Maximum: return x != x || x > y ? x : y;
    case BinaryOp::Minimum: return x != x || x < y ? x : y;
    case BinaryOp::Eq: return x == y ? 1.0f : 0.0f;
    case BinaryOp::Ne: return x != y ? 1.0f : 0.0f;
    case BinaryOp::Lt: return x < y ? 1.0f : 0.0f;
    case BinaryOp::Le: return x <= y ? 1.0f : 0.0f;
    case BinaryOp::Gt: return x > y ? 1.0f : 0.0f;
    case BinaryOp::Ge: return x >= y ? 1.0f : 0.0f;
  }
  return x;
}

/// where(cond, x, y): x where cond is nonzero (NaN included), else y.
QTORCH_HD float where_value(float cond, float x, float y) { return cond != 0.0f ? x : y; }

/// Calls f(std::integral_constant<Op, op>{}) for the run-time op, so that f can instantiate a
/// loop per op (host code; Count is the number of enumerators). False for an op out of range.
template <class Op, int Count, class F>
bool with_constant_op(Op op, F&& f) {
  return [&]<int... I>(std::integer_sequence<int, I...>) {
    return ((static_cast<int>(op) == I ? (f(std::integral_constant<Op, static_cast<Op>(I)>{}), true) : false) || ...);
  }(std::make_integer_sequence<int, Count>{});
}

}  // namespace qtorch
