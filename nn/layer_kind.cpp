// Layer kind names.
#include "qtorch/nn/layer_kind.h"

#include "qtorch/core/error.h"

namespace qtorch::nn {

const char* layer_kind_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::Linear: return "linear";
    case LayerKind::Conv: return "conv";
    case LayerKind::Activation: return "activation";
    case LayerKind::Pooling: return "pooling";
    case LayerKind::Normalization: return "normalization";
  }
  QTORCH_FAIL("layer_kind_name: unknown LayerKind {}", static_cast<int>(kind));
}

LayerKind parse_layer_kind(const std::string& name) {
  for (LayerKind kind : kLayerKinds)
    if (name == layer_kind_name(kind)) return kind;
  QTORCH_FAIL("layer kind: expected linear, conv, normalization, activation or pooling, got '{}'", name);
}

}  // namespace qtorch::nn
