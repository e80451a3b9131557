// The scalar function behind each UnaryOp and BinaryOp on the GPU, written as the CPU
// backend's (core/cpu/cpu_elementwise.cpp) so NaN, signs and special cases agree.
#pragma once

#include "qtorch/core/backend.h"
#include "qtorch/core/relu_math.h"

namespace qtorch::cuda {

__device__ __forceinline__ float apply_unary(UnaryOp op, float x, float a, float b) {
  switch (op) {
    case UnaryOp::Copy: return x;
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return expf(x);
    case UnaryOp::Log: return logf(x);
    case UnaryOp::Sqrt: return sqrtf(x);
    case UnaryOp::Abs: return fabsf(x);
    case UnaryOp::Sign: return static_cast<float>((0.0f < x) - (x < 0.0f));
    case UnaryOp::Relu: return relu_value(x);
    case UnaryOp::Sigmoid: return 1.0f / (1.0f + expf(-x));
    case UnaryOp::Tanh: return tanhf(x);
    case UnaryOp::AddScalar: return x + a;
    case UnaryOp::MulScalar: return x * a;
    case UnaryOp::PowScalar: return a == 2.0f ? x * x : powf(x, a);
    case UnaryOp::RSubScalar: return a - x;
    case UnaryOp::RDivScalar: return a / x;
    case UnaryOp::Clamp: {
      if (isnan(x)) return x;
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

__device__ __forceinline__ float apply_binary(BinaryOp op, float x, float y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: return x / y;
    case BinaryOp::Pow: return powf(x, y);
    case BinaryOp::Maximum: return isnan(x) || x > y ? x : y;
    case BinaryOp::Minimum: return isnan(x) || x < y ? x : y;
    case BinaryOp::Eq: return x == y ? 1.0f : 0.0f;
    case BinaryOp::Ne: return x != y ? 1.0f : 0.0f;
    case BinaryOp::Lt: return x < y ? 1.0f : 0.0f;
    case BinaryOp::Le: return x <= y ? 1.0f : 0.0f;
    case BinaryOp::Gt: return x > y ? 1.0f : 0.0f;
    case BinaryOp::Ge: return x >= y ? 1.0f : 0.0f;
  }
  return x;
}

}  // namespace qtorch::cuda
