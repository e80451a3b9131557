// nn::Module: registries, traversal, modes, device moves, state dict, deep copy, printing.
#include "qtorch/nn/module.h"

#include <cxxabi.h>

#include <cstdlib>
#include <ostream>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>

#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"

namespace qtorch::nn {

// ---- StateDict ----

void StateDict::insert(const std::string& name, const Tensor& value) {
  for (auto& item : items_) {
    if (item.first == name) {
      item.second = value;
      return;
    }
  }
  items_.emplace_back(name, value);
}

bool StateDict::contains(const std::string& name) const {
  for (const auto& item : items_)
    if (item.first == name) return true;
  return false;
}

const Tensor& StateDict::at(const std::string& name) const {
  for (const auto& item : items_)
    if (item.first == name) return item.second;
  QTORCH_FAIL("StateDict: expected an entry named '{}', got none", name);
}

Tensor& StateDict::at(const std::string& name) {
  for (auto& item : items_)
    if (item.first == name) return item.second;
  QTORCH_FAIL("StateDict: expected an entry named '{}', got none", name);
}

// ---- registration ----

namespace {

template <class Vec>
auto find_named(Vec& items, const std::string& name) {
  for (auto it = items.begin(); it != items.end(); ++it)
    if (it->first == name) return it;
  return items.end();
}

std::string join_name(const std::string& prefix, const std::string& name) {
  if (name.empty()) return prefix;
  return prefix.empty() ? name : prefix + "." + name;
}

}  // namespace

Tensor Module::forward(const Tensor&) {
  QTORCH_FAIL("{}.forward: expected a module that overrides forward, got the base Module",
              type_name());
}

FusedForward Module::forward_fused(std::span<Module* const>, const Tensor&) { return {}; }

Tensor Module::operator()(const Tensor& x) {
  Tensor out = forward(x);
  if (forward_hooks_.empty() && backward_hooks_.empty()) return out;
  // A copy: a hook may remove itself or register another (the new one runs from the next call).
  const auto hooks_now = forward_hooks_;
  for (const auto& [id, hook] : hooks_now) {
    Tensor replaced = hook(*this, x, out);
    if (replaced.defined()) out = replaced;
  }
  if (!backward_hooks_.empty() && out.requires_grad()) {
    // The module's output keeps the hooks alive through its graph node; the module itself
    // is held weakly, so a graph never keeps its model alive.
    std::weak_ptr<Module> self = weak_from_this();
    auto hooks = backward_hooks_;
    out.register_hook([self, hooks](const Tensor& grad) {
      if (std::shared_ptr<Module> m = self.lock())
        for (const auto& [id, hook] : hooks) hook(*m, grad);
      return grad;
    });
  }
  return out;
}

int64_t Module::register_forward_hook(ForwardHook hook) {
  QTORCH_CHECK(static_cast<bool>(hook), "{}.register_forward_hook: expected a function, got an empty one", type_name());
  forward_hooks_.emplace_back(next_hook_id_, std::move(hook));
  return next_hook_id_++;
}

int64_t Module::register_full_backward_hook(BackwardHook hook) {
  QTORCH_CHECK(static_cast<bool>(hook), "{}.register_full_backward_hook: expected a function, got an empty one",
               type_name());
  backward_hooks_.emplace_back(next_hook_id_, std::move(hook));
  return next_hook_id_++;
}

void Module::remove_hook(int64_t id) {
  auto drop = [id](auto& hooks) {
    const size_t before = hooks.size();
    std::erase_if(hooks, [id](const auto& h) { return h.first == id; });
    return hooks.size() != before;
  };
  QTORCH_CHECK(drop(forward_hooks_) || drop(backward_hooks_), "{}.remove_hook: expected the id of a registered hook, got {}",
               type_name(), id);
}

static void check_new_name(const std::string& op, const std::string& name, bool taken) {
  QTORCH_CHECK(!name.empty() && name.find('.') == std::string::npos,
               "{}: expected a non-empty name without '.', got '{}'", op, name);
  QTORCH_CHECK(!taken, "{}: expected a new name, got '{}' which is already registered", op, name);
}

Tensor Module::register_parameter(const std::string& name, const Tensor& value, bool requires_grad) {
  check_new_name("register_parameter", name,
                 find_named(params_, name) != params_.end() ||
                     find_named(buffers_, name) != buffers_.end() ||
                     find_named(children_, name) != children_.end());
  QTORCH_CHECK(value.defined(), "register_parameter: expected a defined tensor for '{}'", name);
  // A leaf as asked is kept itself (a parameter of another module: tied weights).
  const bool keep = value.is_leaf() && value.requires_grad() == requires_grad;
  Tensor t = keep ? value : value.detach();
  if (!keep) t.requires_grad_(requires_grad);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, const Tensor& value) {
  check_new_name("register_buffer", name,
                 find_named(params_, name) != params_.end() ||
                     find_named(buffers_, name) != buffers_.end() ||
                     find_named(children_, name) != children_.end());
  Tensor t = value.defined() ? value.detach() : value;
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name("register_module", name,
                 find_named(params_, name) != params_.end() ||
                     find_named(buffers_, name) != buffers_.end() ||
                     find_named(children_, name) != children_.end());
  QTORCH_CHECK(module != nullptr, "register_module: expected a module for '{}', got null", name);
  check_no_cycle("register_module", name, *module);
  children_.emplace_back(name, std::move(module));
}

void Module::check_no_cycle(const std::string& op, const std::string& name, const Module& module) const {
  // A module that holds this one (or is it) would make the tree a cycle: every walk over it
  // (parameters(), state_dict(), to()) would never end.
  std::vector<const Module*> pending{&module};
  std::unordered_set<const Module*> seen;
  while (!pending.empty()) {
    const Module* m = pending.back();
    pending.pop_back();
    QTORCH_CHECK(m != this, "{}: '{}' ({}) is this {} or holds it; a module tree cannot hold a cycle", op, name,
                 module.type_name(), type_name());
    if (!seen.insert(m).second) continue;
    for (const auto& child : m->children_) pending.push_back(child.second.get());
  }
}

void Module::set_parameter(const std::string& name, const Tensor& value) {
  auto it = find_named(params_, name);
  QTORCH_CHECK(it != params_.end(), "{}: expected a parameter named '{}'", type_name(), name);
  it->second = value;
}

void Module::set_buffer(const std::string& name, const Tensor& value) {
  auto it = find_named(buffers_, name);
  QTORCH_CHECK(it != buffers_.end(), "{}: expected a buffer named '{}'", type_name(), name);
  it->second = value;
}

// ---- traversal ----

namespace {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Each tensor once, under its first name: a layer used twice in a model holds its weights
// once (an optimizer given them twice would apply every update twice), as in PyTorch.
NamedTensors first_occurrences(NamedTensors all) {
  std::unordered_set<const void*> seen;
  NamedTensors out;
  for (auto& item : all)
    if (seen.insert(item.second.impl()).second) out.push_back(std::move(item));
  return out;
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> Module::every_named_parameter(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out(params_.begin(), params_.end());
  if (recurse) {
    for (const auto& [cname, child] : children_)
      for (auto& [n, t] : child->every_named_parameter(true)) out.emplace_back(join_name(cname, n), t);
  }
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  return first_occurrences(every_named_parameter(recurse));
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::every_named_buffer(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& item : buffers_)
    if (item.second.defined()) out.push_back(item);
  if (recurse) {
    for (const auto& [cname, child] : children_)
      for (auto& [n, t] : child->every_named_buffer(true)) out.emplace_back(join_name(cname, n), t);
  }
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  return first_occurrences(every_named_buffer(recurse));
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& item : children_) out.push_back(item.second);
  return out;
}

void Module::apply(const std::function<void(Module&)>& fn) {
  fn(*this);
  for (auto& item : children_) item.second->apply(fn);
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> all, out;
  all.emplace_back("", shared_from_this());
  for (const auto& [cname, child] : children_)
    for (auto& [n, m] : child->named_modules()) all.emplace_back(join_name(cname, n), m);
  std::unordered_set<const Module*> seen;  // a module used twice: once, as in PyTorch
  for (auto& item : all)
    if (seen.insert(item.second.get()).second) out.push_back(std::move(item));
  return out;
}

Tensor Module::parameter(const std::string& name) const {
  auto it = find_named(params_, name);
  QTORCH_CHECK(it != params_.end(), "{}: expected a parameter named '{}', got none", type_name(),
               name);
  return it->second;
}

Tensor Module::buffer(const std::string& name) const {
  auto it = find_named(buffers_, name);
  QTORCH_CHECK(it != buffers_.end(), "{}: expected a buffer named '{}', got none", type_name(),
               name);
  return it->second;
}

bool Module::has_parameter(const std::string& name) const {
  return find_named(params_, name) != params_.end();
}

bool Module::has_buffer(const std::string& name) const {
  auto it = find_named(buffers_, name);
  return it != buffers_.end() && it->second.defined();
}

void Module::replace_module(const std::string& name, std::shared_ptr<Module> module) {
  auto it = find_named(children_, name);
  QTORCH_CHECK(it != children_.end(), "replace_module: expected a child named '{}' in {}, got none",
               name, type_name());
  QTORCH_CHECK(module != nullptr, "replace_module: expected a module for '{}', got null", name);
  check_no_cycle("replace_module", name, *module);
  it->second = std::move(module);
}

// ---- modes and housekeeping ----

void Module::train(bool on) {
  training_ = on;
  for (auto& item : children_) item.second->train(on);
}

void Module::zero_grad() {
  for (auto& t : parameters()) t.zero_grad();
}

namespace {

// Moves t's data to `device` while keeping the TensorImpl, so every handle sees the move.
void move_in_place(Tensor& t, Device device) {
  if (!t.defined() || t.device() == device) return;
  Tensor moved = t.detach().to(device).contiguous();
  TensorImpl* impl = t.impl();
  impl->storage = moved.impl()->storage;
  impl->shape = moved.impl()->shape;
  impl->strides = moved.impl()->strides;
  impl->offset = moved.impl()->offset;
  if (t.requires_grad()) t.zero_grad();
}

}  // namespace

void Module::to(Device device) {
  for (auto& item : params_) move_in_place(item.second, device);
  for (auto& item : buffers_) move_in_place(item.second, device);
  for (auto& item : children_) item.second->to(device);
}

// ---- state dict ----

StateDict Module::state_dict() const {
  // Every name, a shared layer's under each of its names, as PyTorch's state_dict.
  StateDict out;
  every_named_entry("", out);
  return out;
}

void Module::every_named_entry(const std::string& prefix, StateDict& out) const {
  for (const auto& [n, t] : params_) out.insert(join_name(prefix, n), t);
  for (const auto& [n, t] : buffers_)
    if (t.defined()) out.insert(join_name(prefix, n), t);
  for (const auto& [cname, child] : children_) child->every_named_entry(join_name(prefix, cname), out);
}

Module::LoadResult Module::load_state_dict(const StateDict& state, bool strict) {
  // Validate everything first: a failure must leave the module untouched.
  LoadResult result = check_state_dict(state, strict);
  StateDict mine = state_dict();
  NoGradGuard no_grad;
  for (const auto& [name, t] : mine)
    if (state.contains(name)) Tensor(t).copy_(state.at(name));
  return result;
}

Module::LoadResult Module::check_state_dict(const StateDict& state, bool strict) const {
  StateDict mine = state_dict();
  std::unordered_set<std::string> may_lack;
  collect_buffers_older_states_lack("", may_lack);
  LoadResult result;
  for (const auto& [name, t] : mine) {
    if (!state.contains(name)) {
      QTORCH_CHECK(!strict || may_lack.contains(name),
                   "load_state_dict: expected an entry '{}' in the state dict, got none", name);
      if (!strict) result.missing.push_back(name);
      continue;
    }
    const Tensor& src = state.at(name);
    QTORCH_CHECK(src.defined(), "load_state_dict: expected a defined tensor for '{}'", name);
    QTORCH_CHECK(src.shape() == t.shape(), "load_state_dict: expected '{}' of shape {}, got {}",
                 name, shape_str(t.shape()), shape_str(src.shape()));
  }
  for (const auto& [name, t] : state) {
    if (mine.contains(name)) continue;
    QTORCH_CHECK(!strict, "load_state_dict: expected only entries of this model, got unknown '{}'", name);
    result.unexpected.push_back(name);
  }
  return result;
}

void Module::collect_buffers_older_states_lack(const std::string& prefix,
                                                std::unordered_set<std::string>& out) const {
  for (const std::string& n : buffers_older_states_lack()) out.insert(join_name(prefix, n));
  for (const auto& [cname, child] : children_) child->collect_buffers_older_states_lack(join_name(prefix, cname), out);
}

// ---- copies ----

// What one clone() has copied so far: each module and tensor handle once.
struct Module::CloneMemo {
  std::unordered_map<const Module*, std::shared_ptr<Module>> modules;
  std::unordered_map<const TensorImpl*, Tensor> tensors;

  Tensor copy_of(const Tensor& t) {
    if (!t.defined()) return t;
    auto [it, fresh] = tensors.try_emplace(t.impl());
    if (fresh) {
      it->second = t.detach().clone();
      if (t.requires_grad()) it->second.requires_grad_(true);
    }
    return it->second;
  }
};

std::shared_ptr<Module> Module::clone() const {
  NoGradGuard no_grad;
  CloneMemo memo;
  return clone_with(memo, "");
}

namespace {

// The C++ name of an object's dynamic type ("Doubled", "ns::Net"), for errors.
std::string class_name(const std::type_info& type) {
  int status = 0;
  char* text = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string out = status == 0 && text ? text : type.name();
  std::free(text);
  return out;
}

}  // namespace

std::shared_ptr<Module> Module::clone_with(CloneMemo& memo, const std::string& path) const {
  if (auto it = memo.modules.find(this); it != memo.modules.end()) return it->second;
  const std::string where = path.empty() ? "the model" : "the module '" + path + "'";
  std::shared_ptr<Module> copy = shallow_copy();
  if (!copy) {
    QTORCH_CHECK(params_.empty() && buffers_.empty() && children_.empty(),
                 "clone: expected a module deriving from nn::Cloneable, got {}, a {}", where, class_name(typeid(*this)));
    copy = std::const_pointer_cast<Module>(shared_from_this());
  } else {
    // A subclass that did not derive from Cloneable<Self, Base> copies as its base and
    // would lose its own forward.
    const Module& copied = *copy;
    QTORCH_CHECK(typeid(copied) == typeid(*this),
                 "clone: expected a copy of {}, a {}, of its own class, got a {}: derive {} from "
                 "nn::Cloneable<{}, {}> (or override shallow_copy)",
                 where, class_name(typeid(*this)), class_name(typeid(copied)), class_name(typeid(*this)),
                 class_name(typeid(*this)), class_name(typeid(copied)));
    for (auto& item : copy->params_) item.second = memo.copy_of(item.second);
    for (auto& item : copy->buffers_) item.second = memo.copy_of(item.second);
    for (auto& [name, child] : copy->children_) child = child->clone_with(memo, path.empty() ? name : path + "." + name);
  }
  memo.modules.emplace(this, copy);
  return copy;
}

// ---- printing ----

std::string Module::repr() const {
  std::string out = type_name() + "(" + extra_repr();
  bool first = extra_repr().empty();
  for (const auto& item : children_) {
    if (!first) out += ", ";
    out += item.second->repr();
    first = false;
  }
  return out + ")";
}

std::string Module::pretty(int indent) const {
  if (children_.empty()) return repr();
  std::string pad(static_cast<size_t>(indent + 2), ' ');
  std::string out = type_name() + "(";
  if (!extra_repr().empty()) out += extra_repr();
  out += "\n";
  for (const auto& [name, child] : children_)
    out += pad + "(" + name + "): " + child->pretty(indent + 2) + "\n";
  return out + std::string(static_cast<size_t>(indent), ' ') + ")";
}

std::ostream& operator<<(std::ostream& os, const Module& module) { return os << module.repr(); }

}  // namespace qtorch::nn
