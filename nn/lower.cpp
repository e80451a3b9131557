// make_low_precision: insert quantizer modules after chosen layer kinds in a deep copy.
#include "qtorch/nn/lower.h"

#include <algorithm>

#include "qtorch/core/error.h"
#include "qtorch/nn/sequential.h"

namespace qtorch::nn {

namespace {

struct Lowering {
  const std::vector<LayerKind>& kinds;
  const QuantizerFactory& make_quantizer;

  bool matches(const Module& m) const {
    auto kind = m.layer_kind();
    return kind && std::find(kinds.begin(), kinds.end(), *kind) != kinds.end();
  }

  ModulePtr quantizer() const {
    ModulePtr q = make_quantizer();
    QTORCH_CHECK(q != nullptr, "make_low_precision: expected the factory to make a module, got null");
    return q;
  }

  // `m` is already a private copy, so its children may be replaced in place.
  ModulePtr lower(const ModulePtr& m) const {
    if (auto seq = std::dynamic_pointer_cast<Sequential>(m)) {
      auto out = std::make_shared<Sequential>();
      for (const auto& child : seq->children()) {
        out->push_back(lower(child));
        if (matches(*child)) out->push_back(quantizer());
      }
      return out;
    }
    for (const auto& [name, child] : std::vector(m->named_children())) {
      ModulePtr lowered = lower(child);
      if (matches(*child)) lowered = std::make_shared<Sequential>(std::vector<ModulePtr>{lowered, quantizer()});
      m->replace_module(name, lowered);
    }
    return m;
  }
};

}  // namespace

ModulePtr make_low_precision(const Module& model, const std::vector<LayerKind>& kinds,
                             const QuantizerFactory& make_quantizer) {
  QTORCH_CHECK(static_cast<bool>(make_quantizer),
               "make_low_precision: expected a quantizer factory, got an empty function");
  Lowering lowering{kinds, make_quantizer};
  ModulePtr copy = model.clone();
  ModulePtr out = lowering.lower(copy);
  if (lowering.matches(model) && !std::dynamic_pointer_cast<Sequential>(copy))
    out = std::make_shared<Sequential>(std::vector<ModulePtr>{out, lowering.quantizer()});
  out->train(model.is_training());
  return out;
}

}  // namespace qtorch::nn
