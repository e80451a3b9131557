// nn::Sequential: runs its children one after another.
#pragma once

#include <initializer_list>
#include <memory>
#include <vector>

#include "qtorch/nn/module.h"

namespace qtorch::nn {

/// A chain of modules named "0", "1", ... in the order given.
class Sequential : public Cloneable<Sequential> {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<ModulePtr> modules);
  explicit Sequential(const std::vector<ModulePtr>& modules);

  /// Appends a module (named by its position) and returns it.
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    add_child(std::to_string(named_children().size()), module);
    return module;
  }
  size_t size() const { return named_children().size(); }
  /// The module at position i; throws when out of range.
  ModulePtr operator[](size_t i) const;

  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }
};

/// Makes a Sequential: nn::sequential({linear, relu, ...}).
inline std::shared_ptr<Sequential> sequential(std::initializer_list<ModulePtr> modules) {
  return std::make_shared<Sequential>(modules);
}

}  // namespace qtorch::nn
