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
  Tensor out = x;
  for (size_t i = 0; i < items.size(); ++i) {
    Module& m = *items[i].second;
    // A pair that runs as fewer ops (Linear then a quantizer); hooks see each module's own
    // output, so a pair with hooks runs one module at a time.
    if (i + 1 < items.size() && !m.has_hooks() && !items[i + 1].second->has_hooks()) {
      Tensor fused = m.forward_fused_with(*items[i + 1].second, out);
      if (fused.defined()) {
        out = fused;
        ++i;
        continue;
      }
    }
    out = m(out);
  }
  return out;
}

}  // namespace qtorch::nn
