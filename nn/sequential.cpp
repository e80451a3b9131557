// nn::Sequential: runs its children one after another.
#include "qtorch/nn/sequential.h"

#include "qtorch/core/error.h"

namespace qtorch::nn {

Sequential::Sequential(std::initializer_list<ModulePtr> modules) {
  for (const auto& m : modules) push_back(m);
}

Sequential::Sequential(const std::vector<ModulePtr>& modules) {
  for (const auto& m : modules) push_back(m);
}

ModulePtr Sequential::operator[](size_t i) const {
  QTORCH_CHECK(i < size(), "Sequential: expected an index below {}, got {}", size(), i);
  return named_children()[i].second;
}

Tensor Sequential::forward(const Tensor& x) {
  const auto& items = named_children();
  // Runs of modules that fuse into fewer ops (Linear, quantizer, ReLU): hooks see each
  // module's own output, so a module with hooks runs on its own.
  std::vector<Module*> modules;
  modules.reserve(items.size());
  for (const auto& item : items) modules.push_back(item.second.get());
  Tensor out = x;
  for (size_t i = 0; i < modules.size(); ++i) {
    Module& m = *modules[i];
    if (!m.has_hooks()) {
      size_t end = i + 1;  // the modules after m up to the first with hooks
      while (end < modules.size() && !modules[end]->has_hooks()) ++end;
      if (end > i + 1) {
        FusedForward fused = m.forward_fused(std::span<Module* const>(modules).subspan(i + 1, end - i - 1), out);
        if (fused.out.defined()) {
          out = fused.out;
          i += fused.taken;
          continue;
        }
      }
    }
    out = m(out);
  }
  return out;
}

}  // namespace qtorch::nn
