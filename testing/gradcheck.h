// gradcheck: the analytic gradients of a function of tensors against central finite
// differences, with the worst element reported; grad_of: the input gradients of one
// backward call. Semantics and limits (quantizers, float32): docs/testing.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "qtorch/core/tensor.h"

namespace qtorch::testing {

/// A function under test: tensors in, one tensor (any shape) out.
using Function = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradcheckOptions {
  /// Finite-difference step, added to and subtracted from each input element in float32.
  float eps = 1e-2f;
  /// An element passes when |analytic - numeric| <= atol + rtol * |numeric| (a NaN on
  /// either side fails). The float32 evaluations leave a numeric error of about
  /// 1e-7 * |f| / eps, far below these.
  double atol = 1e-3;
  double rtol = 1e-2;
  /// Up to this many output elements the whole Jacobian is checked (one backward pass per
  /// output element); above it, `random_probes` vector-Jacobian products with fixed
  /// pseudo-random weights in [0.5, 1.5) (own generator: the global seed is untouched).
  int64_t max_jacobian_outputs = 128;
  int random_probes = 2;
};

/// Where the largest mismatch (relative to its tolerance) was found.
struct GradcheckWorst {
  int64_t input = -1;
  /// Flat (row-major) index of the element within the input.
  int64_t element = -1;
  /// Flat index of the output element (full Jacobian), or -1 - probe number for a
  /// vector-Jacobian product.
  int64_t output = 0;
  double analytic = 0.0;
  double numeric = 0.0;
};

/// Outcome of gradcheck. Converts to bool (true: the gradients match).
struct GradcheckResult {
  bool ok = true;
  /// false when the function is not differentiable at the scale of eps, so that the check
  /// says nothing about the gradient (see docs/testing.md): it is piecewise constant around
  /// an input element whose analytic gradient is nonzero (e.g. a narrow forward quantizer),
  /// or the worst element's difference quotient changes with the step (eps, eps/sqrt(2), eps/e).
  /// ok is then false too.
  bool meaningful = true;
  /// Jacobian entries (or projections) compared, and how many were out of tolerance.
  int64_t checked = 0;
  int64_t failures = 0;
  GradcheckWorst worst;
  /// Empty when ok; otherwise names the worst element, its analytic and numeric values.
  std::string message;
  explicit operator bool() const { return ok; }
};

/// Checks the gradients of f at `inputs`. The inputs are used (and perturbed in place,
/// through their own strides; views work) as given, so parameters captured by f may be
/// passed too; each is set to require grad, its previous gradient is restored at the end.
/// Every evaluation of f is float32 (the engine's only type); the differences, quotients
/// (by the exact distance between the two perturbed float32 inputs), projections and
/// comparisons are double. f must be deterministic: stochastic rounding makes it random.
GradcheckResult gradcheck(const Function& f, std::vector<Tensor> inputs, const GradcheckOptions& options = {});

/// The gradient of every input after one backward pass of f(inputs) with `grad_output`
/// (f's output shape), flat in row-major order (zeros for an input no gradient reached).
/// The inputs' requires_grad is set and their previous gradients are restored.
std::vector<std::vector<float>> grad_of(const Function& f, std::vector<Tensor> inputs, const Tensor& grad_output);
/// The same with grad_output = 1 for a one-element output.
std::vector<std::vector<float>> grad_of(const Function& f, std::vector<Tensor> inputs);

}  // namespace qtorch::testing
