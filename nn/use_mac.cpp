// use_mac: swap Linear and Conv2d for QLinear and QConv2d in a deep copy.
#include "qtorch/nn/use_mac.h"

#include <unordered_map>

#include "qtorch/core/error.h"
#include "qtorch/nn/conv.h"
#include "qtorch/nn/fusion.h"
#include "qtorch/nn/linear.h"
#include "qtorch/nn/qconv2d.h"
#include "qtorch/nn/qlinear.h"

namespace qtorch::nn {
namespace {

struct MacSwap {
  const std::optional<quant::MacOptions>& forward;
  const std::optional<quant::MacOptions>& backward;
  // Each module of the copy once: a layer at several places becomes one Q form there.
  std::unordered_map<const Module*, ModulePtr> done;

  // The Q form of m, or null when m is neither layer. `path` names m in errors.
  ModulePtr swapped(const ModulePtr& m, const std::string& path) const {
    auto* linear = dynamic_cast<const Linear*>(m.get());
    auto* conv = dynamic_cast<const Conv2d*>(m.get());
    if (!linear && !conv) return nullptr;
    // A subclass may override forward, which the Q form would drop.
    QTORCH_CHECK(is_exactly<Linear>(*m) || is_exactly<QLinear>(*m) || is_exactly<Conv2d>(*m) ||
                     is_exactly<QConv2d>(*m),
                 "use_mac: expected Linear, Conv2d or their Q forms, got the layer '{}', a {} derived from {}, "
                 "whose own forward a Q form would replace; give it MAC options itself",
                 path, m->type_name(), linear ? "Linear" : "Conv2d");
    if (linear) return std::make_shared<QLinear>(*linear, forward, backward);
    QTORCH_CHECK(conv->options().groups == 1,
                 "use_mac: expected groups = 1 in every Conv2d (one multiply-accumulate chain per output over all "
                 "input channels), got groups={} in the layer '{}', {}",
                 conv->options().groups, path, m->repr());
    return std::make_shared<QConv2d>(*conv, forward, backward);
  }

  // `m` is a private copy, so its children may be replaced in place.
  ModulePtr apply(const ModulePtr& m, const std::string& path) {
    if (auto it = done.find(m.get()); it != done.end()) return it->second;
    ModulePtr out = swapped(m, path);
    if (!out) {
      for (const auto& [name, child] : std::vector(m->named_children()))
        m->replace_module(name, apply(child, path.empty() ? name : path + "." + name));
      out = m;
    }
    done.emplace(m.get(), out);
    return out;
  }
};

}  // namespace

ModulePtr use_mac(const Module& model, const std::optional<quant::MacOptions>& forward,
                  const std::optional<quant::MacOptions>& backward) {
  MacSwap swap{forward, backward, {}};
  ModulePtr out = swap.apply(model.clone(), "");
  out->train(model.is_training());
  return out;
}

}  // namespace qtorch::nn
