// use_mac: swap Linear and Conv2d for QLinear and QConv2d in a deep copy.
#include "qtorch/nn/use_mac.h"

#include "qtorch/nn/conv.h"
#include "qtorch/nn/linear.h"
#include "qtorch/nn/qconv2d.h"
#include "qtorch/nn/qlinear.h"

namespace qtorch::nn {
namespace {

struct MacSwap {
  const std::optional<quant::MacOptions>& forward;
  const std::optional<quant::MacOptions>& backward;

  // The Q form of m, or null when m is neither layer.
  ModulePtr swapped(const ModulePtr& m) const {
    if (auto* linear = dynamic_cast<const Linear*>(m.get())) return std::make_shared<QLinear>(*linear, forward, backward);
    if (auto* conv = dynamic_cast<const Conv2d*>(m.get())) return std::make_shared<QConv2d>(*conv, forward, backward);
    return nullptr;
  }

  // `m` is a private copy, so its children may be replaced in place.
  ModulePtr apply(const ModulePtr& m) const {
    if (ModulePtr q = swapped(m)) return q;
    for (const auto& [name, child] : std::vector(m->named_children())) m->replace_module(name, apply(child));
    return m;
  }
};

}  // namespace

ModulePtr use_mac(const Module& model, const std::optional<quant::MacOptions>& forward,
                  const std::optional<quant::MacOptions>& backward) {
  ModulePtr out = MacSwap{forward, backward}.apply(model.clone());
  out->train(model.is_training());
  return out;
}

}  // namespace qtorch::nn
