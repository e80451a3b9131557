// Low-precision multiply-accumulate inside a matrix product (docs/numerics.md,
// "Low-precision multiply-accumulate"): qmatmul rounds every product and every partial sum
// to chosen formats, with optional FMA, Kahan summation and chunk-based accumulation.
// qmatmul is a differentiable graph op: its backward GEMMs (dA = g B^T, dB = A^T g) use
// their own MacOptions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "qtorch/core/generator.h"
#include "qtorch/core/tensor.h"
#include "qtorch/quant/number.h"
#include "qtorch/quant/rounding.h"

namespace qtorch::quant {

/// How one multiply-accumulate chain rounds (per output element, k ascending, from 0).
struct MacOptions {
  std::optional<Number> multiply;  // product format; empty: exact product
  Number accumulate = FloatingPoint{};  // accumulator format (fixed or floating point)
  Rounding multiply_rounding = Rounding::Nearest;  // no effect without a multiply format
  Rounding accumulate_rounding = Rounding::Nearest;
  bool fma = false;          // c = Qacc(a*b + c), one rounding
  bool compensated = false;  // Kahan summation in the accumulator format
  int64_t chunk = 0;         // chunk-based accumulation; 0: off

  /// Throws qtorch::Error naming the problem: a block, MX or NVFP4 format (they are
  /// per-tensor, not per-operation), fma with a multiply format, compensated with chunk or
  /// with fma (the spec defines Kahan's steps on a rounded product p, which fma never
  /// forms), a negative chunk, or an invalid format.
  void validate() const;
  bool operator==(const MacOptions&) const = default;
};

struct MacParams;  // quant/mac_core.h

/// The kernel parameters (quant/mac_core.h) of a product [M, K] x [K, N] with these options:
/// what qmatmul_forward hands either device's kernel. Validates the options.
MacParams mac_params(const MacOptions& options, int64_t M, int64_t K, int64_t N);

/// Text form, parsed back by parse_mac: comma-separated "acc=FORMAT" (required),
/// "mul=FORMAT", "acc_rounding=NAME", "mul_rounding=NAME", "chunk=N", "fma", "kahan";
/// e.g. "acc=fp16,mul=e5m2,chunk=64". Roundings are written only when not nearest.
std::string mac_text(const MacOptions& options);
/// Parses the text form (case-insensitive, spaces ignored); validated. Throws qtorch::Error
/// naming the bad part and listing the accepted keys.
MacOptions parse_mac(std::string_view text);
/// parse_mac, or empty (the float32 product) for "fp32" or "none" in any case: the text of
/// qtrain's --mac-forward / --mac-backward and of a recipe's mac_forward / mac_backward.
std::optional<MacOptions> parse_optional_mac(std::string_view text);

/// The product [M, K] x [K, N] -> [M, N] with every multiply and add rounded as `options`
/// says (float32, any strides; both operands on the CPU or both on one GPU, the result
/// there). Not differentiable; the same bits on any thread count and on either device.
/// Stochastic roundings draw from `generator` (null: the default one): the random word of
/// rounding r of step k of output element o is word o * slots + r * S + k of the call's
/// stream (r: 0 product, 1 sum or FMA, 2-4 Kahan's other three roundings), chunk sums use
/// r = 1 and k = K + chunk index; S = K + chunks rounded up to a multiple of 4, slots = 5 S.
/// A NaN result is the positive quiet NaN.
Tensor qmatmul_forward(const Tensor& a, const Tensor& b, const MacOptions& options,
                       Generator* generator = nullptr);

/// qmatmul_forward(a, b, *options), or the float32 product (BLAS) when options is empty.
Tensor product_with(const Tensor& a, const Tensor& b, const std::optional<MacOptions>& options);

/// Differentiable qmatmul: y = A B computed with `forward`; backward dA = g B^T and
/// dB = A^T g computed with `backward`. An empty set of options means the float32 product
/// (BLAS) for that pass.
Tensor qmatmul(const Tensor& a, const Tensor& b, const std::optional<MacOptions>& forward,
               const std::optional<MacOptions>& backward);
/// The same options forward and backward.
Tensor qmatmul(const Tensor& a, const Tensor& b, const MacOptions& options);

}  // namespace qtorch::quant
