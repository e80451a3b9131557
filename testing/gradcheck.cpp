// Finite-difference gradient checking in double from float32 evaluations.
#include "qtorch/testing/gradcheck.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <optional>
#include <random>

#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"
#include "qtorch/core/shape.h"
#include "qtorch/testing/bits.h"

namespace qtorch::testing {
namespace {

// A zero-dimensional view of flat element i of x, through x's strides.
Tensor element_view(const Tensor& x, int64_t i) {
  int64_t rem = i, off = x.offset();
  for (int64_t d = x.dim() - 1; d >= 0; --d) {
    off += (rem % x.shape()[d]) * x.strides()[d];
    rem /= x.shape()[d];
  }
  return as_strided(x, {}, {}, off);
}

std::vector<float> eval(const Function& f, const std::vector<Tensor>& inputs) {
  NoGradGuard guard;
  return f(inputs).to_vector();
}

// d f / d x_i (every output) by central differences with step eps; flat: outputs unchanged;
// no_step: x_i +- eps round to x_i itself in float32; non_finite: an output at x_i +- eps is
// NaN or infinite. The last two make the quotient meaningless.
struct Column {
  std::vector<double> d;
  bool flat = true;
  bool no_step = false;
  bool non_finite = false;
  float value = 0.0f;  // x_i
};
Column difference_column(const Function& f, const std::vector<Tensor>& inputs, const Tensor& x, int64_t i, float eps) {
  Tensor cell = element_view(x, i);
  const float orig = cell.item();
  const float up = orig + eps, down = orig - eps;
  std::vector<float> yp, ym;
  {
    NoGradGuard guard;
    cell.fill_(up);
    yp = eval(f, inputs);
    cell.fill_(down);
    ym = eval(f, inputs);
    cell.fill_(orig);
  }
  Column c;
  c.value = orig;
  const double h = static_cast<double>(up) - static_cast<double>(down);
  c.no_step = h == 0.0;
  c.d.resize(yp.size());
  for (size_t j = 0; j < yp.size(); ++j) {
    c.d[j] = c.no_step ? 0.0 : (static_cast<double>(yp[j]) - static_cast<double>(ym[j])) / h;
    if (bits_of(yp[j]) != bits_of(ym[j])) c.flat = false;
    if (!std::isfinite(yp[j]) || !std::isfinite(ym[j])) c.non_finite = true;
  }
  return c;
}

double project(const std::vector<double>& column, const std::vector<float>& probe) {
  double s = 0.0;
  for (size_t j = 0; j < column.size(); ++j) s += static_cast<double>(probe[j]) * column[j];
  return s;
}

// Restores requires_grad-set inputs' previous gradients.
class GradRestorer {
 public:
  explicit GradRestorer(std::vector<Tensor>& inputs) : inputs_(inputs) {
    for (Tensor& x : inputs_) {
      QTORCH_CHECK(x.defined(), "testing::gradcheck: expected defined input tensors, got an undefined one");
      // A view of a parameter (w.t()) or any computed tensor: its gradient goes to the leaf
      // it came from, so the check would see zeros, and that leaf's gradient is not restored.
      QTORCH_CHECK(x.is_leaf(),
                   "testing::gradcheck: expected leaf inputs (tensors no op made while grad mode was on), got "
                   "input {} made by '{}'; pass the tensor it came from (the parameter itself), or a detached copy",
                   saved_.size(), x.grad_fn_name());
      saved_.push_back(x.grad());
      x.requires_grad_(true);
    }
  }
  ~GradRestorer() {
    for (size_t k = 0; k < inputs_.size(); ++k) {
      if (saved_[k].defined()) inputs_[k].set_grad(saved_[k]);
      else inputs_[k].zero_grad();
    }
  }
  GradRestorer(const GradRestorer&) = delete;
  GradRestorer& operator=(const GradRestorer&) = delete;

 private:
  std::vector<Tensor>& inputs_;
  std::vector<Tensor> saved_;
};

// Input gradients of one backward pass of y with grad_output g (zeros where none arrived).
std::vector<std::vector<float>> backward_grads(Tensor y, std::vector<Tensor>& inputs, const Tensor& g,
                                               bool retain, std::vector<bool>* reached = nullptr) {
  for (Tensor& x : inputs) x.zero_grad();
  y.backward(g, retain);
  std::vector<std::vector<float>> out;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    Tensor gx = x.grad();
    if (!gx.defined()) {
      out.emplace_back(x.numel(), 0.0f);
      continue;
    }
    QTORCH_CHECK(gx.shape() == x.shape(), "testing::gradcheck: expected input {}'s gradient of shape {}, got {}", k,
                 shape_str(x.shape()), shape_str(gx.shape()));
    if (reached) (*reached)[k] = true;
    out.push_back(gx.to_vector());
  }
  return out;
}

std::string where(const GradcheckWorst& w) {
  const std::string out = w.output >= 0 ? fmt::format("d output[{}]", w.output)
                                        : fmt::format("d (random projection {} of the output)", -1 - w.output);
  return fmt::format("{} / d input {} [{}]", out, w.input, w.element);
}

}  // namespace

GradcheckResult gradcheck(const Function& f, std::vector<Tensor> inputs, const GradcheckOptions& options) {
  QTORCH_CHECK(options.eps > 0 && std::isfinite(options.eps), "testing::gradcheck: expected eps > 0, got {}",
               options.eps);
  QTORCH_CHECK(options.atol >= 0 && options.rtol >= 0, "testing::gradcheck: expected atol, rtol >= 0, got {}, {}",
               options.atol, options.rtol);
  GradRestorer restorer(inputs);
  Tensor y = f(inputs);
  QTORCH_CHECK(y.defined() && y.requires_grad(),
               "testing::gradcheck: expected f to return a tensor that requires grad (depends on an input), got {}",
               y.defined() ? "one that does not" : "an undefined tensor");
  const int64_t n_out = y.numel();

  // The probes: one-hot rows of the Jacobian, or a few random weightings of the output.
  std::vector<std::vector<float>> probes;
  const bool full = n_out <= options.max_jacobian_outputs;
  if (full) {
    for (int64_t j = 0; j < n_out; ++j) {
      probes.emplace_back(n_out, 0.0f);
      probes.back()[j] = 1.0f;
    }
  } else {
    std::mt19937 gen(1234);
    std::uniform_real_distribution<float> u(0.5f, 1.5f);
    for (int p = 0; p < std::max(1, options.random_probes); ++p) {
      probes.emplace_back(n_out);
      for (float& v : probes.back()) v = u(gen);
    }
  }
  // analytic[p][k][i]: d (probe p . y) / d input k element i.
  std::vector<std::vector<std::vector<float>>> analytic;
  std::vector<bool> reached(inputs.size(), false);
  for (size_t p = 0; p < probes.size(); ++p)
    analytic.push_back(backward_grads(y, inputs, Tensor::from_vector(probes[p], y.shape()), p + 1 < probes.size(),
                                      &reached));

  GradcheckResult r;
  double worst_ratio = -1.0;
  std::optional<GradcheckWorst> flat;
  const auto tol = [&](double numeric) { return options.atol + options.rtol * std::fabs(numeric); };
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    for (int64_t i = 0; i < x.numel(); ++i) {
      const Column c = difference_column(f, inputs, x, i, options.eps);
      if (c.no_step || c.non_finite) {
        // No difference quotient exists here: say so rather than compare with NaN.
        r.ok = r.meaningful = false;
        r.worst = {static_cast<int64_t>(k), i, 0, analytic[0][k][i], std::nan("")};
        r.message = c.no_step
            ? fmt::format("gradcheck is meaningless: input {} [{}] = {} is so large that +-eps = {} rounds back to it "
                          "in float32 (no step to difference over); use a larger eps or smaller inputs",
                          k, i, c.value, options.eps)
            : fmt::format("gradcheck is meaningless: f gives NaN or infinite outputs at input {} [{}] = {} +- eps = "
                          "{}; check f where it is finite",
                          k, i, c.value, options.eps);
        return r;
      }
      for (size_t p = 0; p < probes.size(); ++p) {
        const double a = analytic[p][k][i];
        const double n = project(c.d, probes[p]);
        const GradcheckWorst here{static_cast<int64_t>(k), i, full ? static_cast<int64_t>(p) : -1 - static_cast<int64_t>(p),
                                  a, n};
        if (c.flat && std::fabs(a) > options.atol && !flat) flat = here;
        // A NaN on either side is a failure, and the worst one (no inequality holds for it).
        const bool within = std::fabs(a - n) <= tol(n);
        const double ratio = std::isnan(a - n) ? std::numeric_limits<double>::infinity() : std::fabs(a - n) / tol(n);
        ++r.checked;
        if (!within) ++r.failures;
        if (ratio > worst_ratio) {
          worst_ratio = ratio;
          r.worst = here;
        }
      }
    }
  }
  std::string unreached;
  for (size_t k = 0; k < inputs.size(); ++k)
    if (!reached[k]) unreached += fmt::format(" (input {} received no gradient)", k);

  if (flat) {
    r.ok = r.meaningful = false;
    r.worst = *flat;
    r.message = fmt::format(
        "gradcheck is meaningless: f is piecewise constant around input {} [{}] (every output is bitwise unchanged "
        "by +-eps = {}) while the analytic gradient {} is {}; a quantizer with a forward format coarser than eps "
        "(or a step function) is in the way: use a wide or identity forward format, or check the backward "
        "quantizer with testing::check_stochastic_rounding_backward",
        flat->input, flat->element, options.eps, where(*flat), flat->analytic);
    return r;
  }
  if (r.failures == 0) return r;
  r.ok = false;
  // A staircase (a quantizer whose steps are finer than eps but not negligible) makes the
  // difference quotient depend on the step; a wrong gradient of a smooth f does not.
  const GradcheckWorst& w = r.worst;
  const auto& probe = probes[full ? w.output : -1 - w.output];
  // Steps in ratios that are not powers of two: a power-of-two grid can give the same quotient
  // at eps, eps/2 and eps/4 and pass for a wrong gradient (the session-24 audit).
  for (float div : {1.41421356f, 2.71828183f}) {
    if (!std::isfinite(w.analytic)) break;  // a NaN or infinite gradient is wrong at any step
    const double n2 = project(difference_column(f, inputs, inputs[w.input], w.element, options.eps / div).d, probe);
    if (std::fabs(n2 - w.numeric) > tol(w.numeric)) {
      r.meaningful = false;
      r.message = fmt::format(
          "gradcheck is meaningless: f is not differentiable at the scale of eps: {} is {} with step {} but {} with "
          "step {} (analytic {}); a quantizer's grid (or a kink) lies within eps of input {} [{}]",
          where(w), w.numeric, options.eps, n2, options.eps / div, w.analytic, w.input, w.element);
      return r;
    }
  }
  r.message = fmt::format(
      "gradients differ in {} of {} checked entries; worst {}: analytic {}, numeric {} (difference {}, tolerance {} "
      "+ {} * |numeric| = {}){}",
      r.failures, r.checked, where(w), w.analytic, w.numeric, w.analytic - w.numeric, options.atol, options.rtol,
      tol(w.numeric), unreached);
  return r;
}

namespace {
// grad_of with grad_output, or 1 for a one-element output when it is null (f runs once).
std::vector<std::vector<float>> grad_of_impl(const Function& f, std::vector<Tensor> inputs, const Tensor* grad_output) {
  GradRestorer restorer(inputs);
  Tensor y = f(inputs);
  QTORCH_CHECK(y.defined() && y.requires_grad(),
               "testing::grad_of: expected f to return a tensor that requires grad, got {}",
               y.defined() ? "one that does not" : "an undefined tensor");
  if (!grad_output) {
    QTORCH_CHECK(y.numel() == 1, "testing::grad_of: expected a one-element output without grad_output, got shape {}",
                 shape_str(y.shape()));
    return backward_grads(y, inputs, ones(y.shape()), false);
  }
  QTORCH_CHECK(grad_output->defined() && grad_output->shape() == y.shape(),
               "testing::grad_of: expected grad_output of the output's shape {}, got {}", shape_str(y.shape()),
               grad_output->defined() ? shape_str(grad_output->shape()) : std::string("an undefined tensor"));
  return backward_grads(y, inputs, *grad_output, false);
}
}  // namespace

std::vector<std::vector<float>> grad_of(const Function& f, std::vector<Tensor> inputs, const Tensor& grad_output) {
  return grad_of_impl(f, std::move(inputs), &grad_output);
}

std::vector<std::vector<float>> grad_of(const Function& f, std::vector<Tensor> inputs) {
  return grad_of_impl(f, std::move(inputs), nullptr);
}

}  // namespace qtorch::testing
