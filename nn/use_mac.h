// use_mac: a deep copy of a model whose Linear and Conv2d layers compute their products as
// low-precision multiply-accumulate chains (QLinear, QConv2d), with the same parameters.
#pragma once

#include <optional>

#include "qtorch/nn/module.h"
#include "qtorch/quant/mac.h"

namespace qtorch::nn {

/// Every Linear becomes a QLinear and every Conv2d a QConv2d (groups = 1; otherwise an
/// error naming the layer), wherever they sit; layers already Q forms get the new options.
/// A layer at several places (tied weights) stays one layer. A class derived from one of
/// these four is an error naming the layer: its own forward would be dropped. The original
/// model is left unchanged. Empty options: the float32 product for that pass.
ModulePtr use_mac(const Module& model, const std::optional<quant::MacOptions>& forward,
                  const std::optional<quant::MacOptions>& backward);

}  // namespace qtorch::nn
