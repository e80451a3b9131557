// A node of the autograd graph: one op's backward, with the tensors it saved. Ops record
// themselves with record(): the forward result, the inputs, and the backward as a closure.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "qtorch/core/tensor.h"

namespace qtorch {

/// A tensor an op's backward reads, saved with detach() (a node never owns its own output's
/// graph) and with the version of its memory at the time (core/storage.h). get() throws when
/// an in-place op wrote into that memory since, as PyTorch does, rather than compute the
/// gradient from values the forward did not see.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  /// The saved tensor, unchanged since it was saved (else throws qtorch::Error).
  const Tensor& get() const;

 private:
  Tensor tensor_;
  uint64_t version_ = 0;
};

/// SavedTensor(t): what a backward closure captures of a tensor it reads.
inline SavedTensor save(const Tensor& t) { return SavedTensor(t); }

/// One recorded op. Subclasses keep the tensors their backward needs as SavedTensor;
/// record() makes a FunctionNode.
class Node {
 public:
  virtual ~Node() = default;
  /// The op's name, e.g. "matmul".
  virtual std::string name() const = 0;
  /// The gradient of each input, in the order of `inputs`, given the output's gradient.
  /// An entry may be undefined when that input needs no gradient. The engine sums
  /// broadcast gradients back to each input's shape, so ops need not.
  virtual std::vector<Tensor> backward(const Tensor& grad_output) = 0;
  /// Drops saved tensors once the graph is freed (after backward without retain_graph).
  virtual void release() {}

  /// True when input i takes part in autograd (skip computing its gradient otherwise).
  bool needs_input_grad(size_t i) const;

  std::vector<Tensor> inputs;         // what the op read, in order
  std::vector<GradHook> hooks;        // hooks registered on the op's output
  bool released = false;
};

using Grads = std::vector<Tensor>;
/// An op's backward: the gradient of each input given the output's gradient (see
/// Node::backward). `node` is the recorded node, for needs_input_grad() and inputs.
using BackwardFn = std::function<Grads(const Tensor& grad_output, const Node& node)>;

/// The node record() makes: a name and a backward closure. The closure holds the op's
/// saved tensors; release() drops it, which frees them.
class FunctionNode final : public Node {
 public:
  FunctionNode(std::string name, BackwardFn backward)
      : name_(std::move(name)), backward_(std::move(backward)) {}
  std::string name() const override { return name_; }
  std::vector<Tensor> backward(const Tensor& grad_output) override { return backward_(grad_output, *this); }
  void release() override { backward_ = nullptr; }

 private:
  std::string name_;
  BackwardFn backward_;
};

/// True when grad mode is on and any of the tensors takes part in autograd.
bool any_requires_grad(std::initializer_list<const Tensor*> tensors);
bool any_requires_grad(std::initializer_list<Tensor> tensors);
bool any_requires_grad(const std::vector<Tensor>& tensors);

/// Makes `node` the grad_fn of `out`, reading `inputs`. Returns out.
Tensor attach_node(Tensor out, std::shared_ptr<Node> node, std::vector<Tensor> inputs);
/// Makes a FunctionNode the grad_fn of `out` unconditionally (record() checks first).
Tensor attach_function(std::string name, Tensor out, std::vector<Tensor> inputs, BackwardFn backward);

namespace detail {
template <class F>
BackwardFn make_backward(F&& f) {
  if constexpr (std::is_invocable_v<F&>) {
    return BackwardFn(f());  // a maker: build the closure (and its captures) only now
  } else {
    static_assert(std::is_invocable_r_v<Grads, F&, const Tensor&, const Node&>,
                  "record: expected backward(const Tensor& grad, const Node& node) -> Grads, or a "
                  "callable with no arguments that returns one");
    return BackwardFn(std::forward<F>(f));
  }
}
}  // namespace detail

/// Records `out` as the result of the op `name` reading `inputs` (in the order the
/// backward returns their gradients) when grad mode is on and an input takes part in
/// autograd, and returns the recorded output; returns `out` untouched otherwise.
///
/// `backward` is the closure, called as backward(grad_output, node) -> Grads, or a callable
/// with no arguments that returns it. Use the second form when the closure captures saved
/// tensors (each with save(), `out` included) or other values costly to copy, so nothing
/// is captured unless the op is recorded:
///
///   Tensor out = ops::binary(BinaryOp::Mul, a, b, "mul");
///   return record("mul", out, {a, b}, [&] {
///     return [a = save(a), b = save(b)](const Tensor& g, const Node& n) -> Grads {
///       return {n.needs_input_grad(0) ? g * b.get() : Tensor(),
///               n.needs_input_grad(1) ? g * a.get() : Tensor()};
///     };
///   });
///
/// The backward runs with grad mode off. After a backward pass without retain_graph the
/// closure is destroyed, freeing what it captured.
template <class F>
Tensor record(const char* name, Tensor out, std::initializer_list<Tensor> inputs, F&& backward) {
  if (!any_requires_grad(inputs)) return out;
  return attach_function(name, std::move(out), std::vector<Tensor>(inputs),
                         detail::make_backward(std::forward<F>(backward)));
}
template <class F>
Tensor record(const char* name, Tensor out, std::vector<Tensor> inputs, F&& backward) {
  if (!any_requires_grad(inputs)) return out;
  return attach_function(name, std::move(out), std::move(inputs),
                         detail::make_backward(std::forward<F>(backward)));
}

}  // namespace qtorch
