// The kinds of built-in layer that a recipe or make_low_precision can put a quantizer after,
// and their names as text. A module says its own kind (Module::layer_kind).
#pragma once

#include <array>
#include <string>

namespace qtorch::nn {

enum class LayerKind { Linear, Conv, Activation, Pooling, Normalization };

/// Every kind, in the order their names are written: linear, conv, normalization,
/// activation, pooling.
inline constexpr std::array<LayerKind, 5> kLayerKinds = {LayerKind::Linear, LayerKind::Conv,
                                                         LayerKind::Normalization, LayerKind::Activation,
                                                         LayerKind::Pooling};

/// "linear", "conv", "normalization", "activation" or "pooling".
const char* layer_kind_name(LayerKind kind);
/// Parses a name above; throws qtorch::Error listing them.
LayerKind parse_layer_kind(const std::string& name);

}  // namespace qtorch::nn
