// nn::Module: the base of every layer and model. Holds named parameters, buffers and
// child modules in registration order; gives train/eval, zero_grad, to(device), a state
// dict, deep copies and readable printing.
#pragma once

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "qtorch/core/device.h"
#include "qtorch/core/tensor.h"
#include "qtorch/nn/layer_kind.h"

namespace qtorch::nn {

/// Name -> tensor, in insertion order (what state_dict() gives and load_state_dict() takes).
class StateDict {
 public:
  using Item = std::pair<std::string, Tensor>;
  /// Adds or replaces an entry.
  void insert(const std::string& name, const Tensor& value);
  bool contains(const std::string& name) const;
  /// The tensor stored under name; throws qtorch::Error when absent.
  const Tensor& at(const std::string& name) const;
  Tensor& at(const std::string& name);
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  std::vector<Item>::const_iterator begin() const { return items_.begin(); }
  std::vector<Item>::const_iterator end() const { return items_.end(); }
  const std::vector<Item>& items() const { return items_; }

 private:
  std::vector<Item> items_;
};

/// The output of a run of consecutive modules fused into fewer ops (Module::forward_fused),
/// and how many modules after the first it covers.
struct FusedForward {
  Tensor out;  // undefined: nothing fused
  size_t taken = 0;
};

/// Base class of all layers and models; always held by std::shared_ptr.
class Module : public std::enable_shared_from_this<Module> {
 public:
  Module() = default;
  virtual ~Module() = default;

  /// The layer's computation. The default throws (containers and layers override it).
  virtual Tensor forward(const Tensor& x);
  /// forward(x), then this module's hooks: the forward hooks in registration order, and the
  /// backward hooks attached to the output. Containers call their children this way;
  /// calling forward() directly skips the hooks (as in PyTorch).
  Tensor operator()(const Tensor& x);
  /// What this module and the first `taken` modules of `next` (those that follow it in a
  /// container, none with hooks) give on x, run as fewer ops (nn/fusion.h: a Linear hands
  /// its bias add to a quantizer after it, a quantizer takes a ReLU after it in); bit for
  /// bit what the calls one by one give, gradients included. {undefined, 0} when nothing
  /// fuses (the default). Containers call it for children without hooks.
  virtual FusedForward forward_fused(std::span<Module* const> next, const Tensor& x);
  /// Whether a forward or backward hook is registered on this module.
  bool has_hooks() const { return !forward_hooks_.empty() || !backward_hooks_.empty(); }

  // ---- hooks (PyTorch's register_forward_hook / register_full_backward_hook) ----
  /// Called after forward with the module, its input and its output. A hook that returns a
  /// defined tensor replaces the output; an undefined one keeps it.
  using ForwardHook = std::function<Tensor(Module& module, const Tensor& input, const Tensor& output)>;
  /// Called during backward with the gradient of the loss with respect to the module's
  /// output (before it flows into the module). Only for outputs that take part in autograd.
  using BackwardHook = std::function<void(Module& module, const Tensor& grad_output)>;
  /// Registers a hook; the returned id removes it with remove_hook.
  int64_t register_forward_hook(ForwardHook hook);
  int64_t register_full_backward_hook(BackwardHook hook);
  /// Removes a forward or backward hook by id; throws qtorch::Error for an unknown id.
  void remove_hook(int64_t id);

  // ---- registration (each returns what it stored) ----
  /// Stores a parameter under `name` and returns it. A leaf tensor whose requires_grad is
  /// the one asked for is stored as it is, the same tensor: registering another module's
  /// parameter ties the two (one tensor, one gradient, one entry in parameters(); PyTorch's
  /// `m2.weight = m1.weight`). Anything else (a tensor computed by ops, or a leaf with the
  /// other requires_grad) is stored detached, as a new leaf sharing its storage.
  Tensor register_parameter(const std::string& name, const Tensor& value, bool requires_grad = true);
  /// Stores a non-trained tensor (e.g. BatchNorm running statistics) under `name`.
  Tensor register_buffer(const std::string& name, const Tensor& value);
  /// Adds a child module under `name`.
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // ---- traversal (recursive, registration order; children's names are prefixed) ----
  // A module used at several places (shared weights) gives its tensors once, under their
  // first name, as in PyTorch; state_dict() lists them under every name.
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const {
    return children_;
  }
  /// Calls fn on this module and every descendant, depth first.
  void apply(const std::function<void(Module&)>& fn);
  /// This module ("" name) and every descendant, depth first, each once.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules();

  /// A parameter or buffer of this module (not recursive) by name; throws when absent.
  Tensor parameter(const std::string& name) const;
  Tensor buffer(const std::string& name) const;
  bool has_parameter(const std::string& name) const;
  bool has_buffer(const std::string& name) const;
  /// Replaces the child registered under `name` (e.g. to wrap a layer); throws when absent
  /// or when `module` is this module or holds it (a cycle).
  void replace_module(const std::string& name, std::shared_ptr<Module> module);

  // ---- modes and housekeeping ----
  /// Sets training mode on this module and every descendant.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  /// Drops the gradient of every parameter.
  void zero_grad();
  /// Moves every parameter and buffer to `device` in place: tensor handles held elsewhere
  /// (an optimizer's) see the move. Gradients are dropped.
  void to(Device device);

  // ---- state dict ----
  /// Every parameter and buffer, by dotted name ("0.weight", "bn.running_mean"), in
  /// PyTorch's order: module by module (depth first), each module's parameters then its
  /// buffers.
  StateDict state_dict() const;
  /// What a load left out: the model's names the state lacks, and the state's names the
  /// model lacks (both empty after a strict load).
  struct LoadResult {
    std::vector<std::string> missing;
    std::vector<std::string> unexpected;
  };
  /// Copies values in. Every name and shape is checked before anything is copied, so a
  /// mismatch throws qtorch::Error and leaves the module untouched. With strict, names
  /// missing on either side are errors too; without, they are returned.
  LoadResult load_state_dict(const StateDict& state, bool strict = true);
  /// The checks of load_state_dict without copying anything; throws qtorch::Error.
  LoadResult check_state_dict(const StateDict& state, bool strict = true) const;

  // ---- copies ----
  /// A deep copy: new parameters, buffers and children with the same values and modes.
  /// What the original shares, the copy shares too (as Python's deepcopy): a module at
  /// several places (shared weights) is one copy at those places, and a tensor handle held
  /// twice one new tensor. Layers support it by deriving from Cloneable<Self> (a subclass
  /// of a built-in layer: Cloneable<Self, Layer>); a copy of another type than the
  /// original's (a subclass that did not) is an error naming the module. A stateless
  /// module without clone support (no parameters, buffers or children) is shared instead
  /// of copied.
  std::shared_ptr<Module> clone() const;

  // ---- kind ----
  /// The kind of a built-in layer (Linear and QLinear; Conv2d and QConv2d; ReLU, Sigmoid,
  /// Tanh; MaxPool2d, AvgPool2d; BatchNorm1d/2d), or nullopt for anything else. Recipes and
  /// make_low_precision put quantizers after layers by kind; a user's layer may claim one.
  virtual std::optional<LayerKind> layer_kind() const { return std::nullopt; }

  // ---- printing ----
  /// The layer's type name, e.g. "Linear".
  virtual std::string type_name() const { return "Module"; }
  /// The arguments shown inside the parentheses, e.g. "784 -> 256".
  virtual std::string extra_repr() const { return ""; }
  /// One-line form: "Linear(784 -> 256)", or for a container
  /// "Sequential(Linear(784 -> 256), ReLU(), Linear(256 -> 10))".
  virtual std::string repr() const;
  /// Multi-line form with one child per line, indented by depth.
  std::string pretty(int indent = 0) const;

 protected:
  /// Overridden by Cloneable: a copy of this object's own fields (registries still shared).
  virtual std::shared_ptr<Module> shallow_copy() const { return nullptr; }
  /// Names of this module's own buffers that state dicts written by an older qtorch lack:
  /// a strict load accepts their absence and keeps their current values.
  virtual std::vector<std::string> buffers_older_states_lack() const { return {}; }
  /// Replaces the stored tensor in place (keeps the name and position).
  void set_parameter(const std::string& name, const Tensor& value);
  void set_buffer(const std::string& name, const Tensor& value);
  void add_child(const std::string& name, std::shared_ptr<Module> module);

  bool training_ = true;

 private:
  struct CloneMemo;
  std::shared_ptr<Module> clone_with(CloneMemo& memo, const std::string& path) const;
  // Throws unless `module` can become a child of this one: not this module, not holding it.
  void check_no_cycle(const std::string& op, const std::string& name, const Module& module) const;
  // Every buffers_older_states_lack() name of the tree, with its dotted prefix.
  void collect_buffers_older_states_lack(const std::string& prefix, std::unordered_set<std::string>& out) const;
  // Every (name, tensor) with the names of each place a shared module sits (state_dict()).
  std::vector<std::pair<std::string, Tensor>> every_named_parameter(bool recurse) const;
  std::vector<std::pair<std::string, Tensor>> every_named_buffer(bool recurse) const;
  // Both, module by module: each module's parameters, its buffers, then its children's.
  void every_named_entry(const std::string& prefix, StateDict& out) const;

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::vector<std::pair<int64_t, ForwardHook>> forward_hooks_;
  std::vector<std::pair<int64_t, BackwardHook>> backward_hooks_;
  int64_t next_hook_id_ = 1;
};

using ModulePtr = std::shared_ptr<Module>;

/// Derive a layer from Cloneable<Layer> to make Module::clone() work for it, and a
/// subclass of a built-in layer from Cloneable<Layer, Base> (it takes Base's constructors):
///   class Doubled : public nn::Cloneable<Doubled, nn::Linear> {
///     using Cloneable::Cloneable;
///     Tensor forward(const Tensor& x) override { return nn::Linear::forward(x) * 2.0f; }
///   };
/// The layer must keep its tensors in the registry (register_parameter/buffer/module) and
/// read them back through parameter()/buffer()/named_children(), not through member handles.
template <class Derived, class Base = Module>
class Cloneable : public Base {
 public:
  using Base::Base;

 protected:
  std::shared_ptr<Module> shallow_copy() const override {
    return std::make_shared<Derived>(static_cast<const Derived&>(*this));
  }
};

/// module.repr()
std::ostream& operator<<(std::ostream& os, const Module& module);

}  // namespace qtorch::nn
