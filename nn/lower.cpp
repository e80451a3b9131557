// make_low_precision: insert quantizer modules after chosen layer kinds in a deep copy.
#include "qtorch/nn/lower.h"

#include <algorithm>
#include <unordered_map>

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

  // `m` is already a private copy, so its children may be replaced in place. A module at
  // several places is lowered once (its layer stays one layer); each place gets its own
  // quantizer after it.
  ModulePtr lower(const ModulePtr& m) {
    if (auto it = done.find(m.get()); it != done.end()) return it->second;
    ModulePtr out = m;
    if (auto seq = std::dynamic_pointer_cast<Sequential>(m)) {
      auto lowered = std::make_shared<Sequential>();
      for (const auto& child : seq->children()) {
        lowered->push_back(lower(child));
        if (matches(*child)) lowered->push_back(quantizer());
      }
      out = lowered;
    } else {
      for (const auto& [name, child] : std::vector(m->named_children())) {
        ModulePtr lowered = lower(child);
        if (matches(*child)) lowered = std::make_shared<Sequential>(std::vector<ModulePtr>{lowered, quantizer()});
        m->replace_module(name, lowered);
      }
    }
    done.emplace(m.get(), out);
    return out;
  }

  std::unordered_map<const Module*, ModulePtr> done;
};

}  // namespace

ModulePtr make_low_precision(const Module& model, const std::vector<LayerKind>& kinds,
                             const QuantizerFactory& make_quantizer) {
  QTORCH_CHECK(static_cast<bool>(make_quantizer),
               "make_low_precision: expected a quantizer factory, got an empty function");
  Lowering lowering{kinds, make_quantizer, {}};
  ModulePtr copy = model.clone();
  ModulePtr out = lowering.lower(copy);
  if (lowering.matches(model) && !std::dynamic_pointer_cast<Sequential>(copy))
    out = std::make_shared<Sequential>(std::vector<ModulePtr>{out, lowering.quantizer()});
  out->train(model.is_training());
  return out;
}

}  // namespace qtorch::nn
