// qconv2d: a 2-D convolution whose dot products are low-precision multiply-accumulate
// chains (quant/mac.h). Each output is the chain over its receptive field in channel-major
// order (c, kh, kw), as im2col flattens it: y = W [O, C*kh*kw] x col [C*kh*kw, N*OH*OW].
// Padded taps are steps too (a product 0 * w): they count in chunks, Kahan's compensation
// and the random words (docs/numerics.md).
#pragma once

#include <optional>

#include "qtorch/core/ops.h"
#include "qtorch/quant/mac.h"

namespace qtorch::quant {

/// Differentiable. x [N, C, H, W], weight [O, C, kh, kw], bias [O] or undefined (added in
/// float32 after the chains); groups must be 1. `forward` computes the output, `backward`
/// the input and weight gradients (dcol = W^T g, dW = g col^T); an empty set of options
/// means the float32 product for that pass.
Tensor qconv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& params,
               const std::optional<MacOptions>& forward, const std::optional<MacOptions>& backward);

}  // namespace qtorch::quant
