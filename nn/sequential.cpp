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
  Tensor out = x;
  for (const auto& item : named_children()) out = (*item.second)(out);
  return out;
}

}  // namespace qtorch::nn
