// make_low_precision: the counterpart of the Python library's sequential_lower. Returns a
// deep copy of a model with a quantizer module after every layer of the chosen kinds.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "qtorch/nn/module.h"

namespace qtorch::nn {

/// Makes one fresh quantizer module per insertion point, e.g.
/// [] { return std::make_shared<nn::Quantizer>(...); }.
using QuantizerFactory = std::function<ModulePtr()>;

/// A deep copy of `model` in which every layer whose kind is in `kinds` is followed by
/// make_quantizer(): inside a Sequential the quantizer is inserted right after the layer
/// (later positions shift), elsewhere the layer is replaced by Sequential(layer, quantizer).
/// The original model is left unchanged.
ModulePtr make_low_precision(const Module& model, const std::vector<LayerKind>& kinds,
                             const QuantizerFactory& make_quantizer);

}  // namespace qtorch::nn
