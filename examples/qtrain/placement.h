// Where qtrain puts its activation/error quantizers: after which kinds of layer
// (--quantize-after).
#pragma once

#include <string>
#include <vector>

#include "nn/lower.h"

namespace qtrain {

// The default, kDefaultQuantizeAfter (config.h): after each linear, conv and batch-norm layer,
// not after ReLU or pooling. Those keep quantized values on their grid, so a quantizer there
// changes nothing forward; backward it only rounds the error once more, before the ReLU mask
// instead of after it.

/// Parses "KIND[,KIND...]" with KIND one of linear, conv, normalization, activation, pooling, or
/// "all" (every kind: BENCHMARKS.md's "after every layer and activation"). Throws
/// std::invalid_argument naming --quantize-after for an unknown, repeated or empty kind.
std::vector<qtorch::nn::LayerKind> parse_quantize_after(const std::string& text);

/// The canonical text of a list of kinds: in the order linear, conv, normalization, activation,
/// pooling, so that equal placements compare equal ("all" is all five).
std::string quantize_after_text(const std::vector<qtorch::nn::LayerKind>& kinds);

}  // namespace qtrain
