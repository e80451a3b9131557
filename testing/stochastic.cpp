// Statistical checks of stochastic rounding with a Hoeffding bound, Bonferroni over elements.
#include "qtorch/testing/stochastic.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <limits>

#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/core/shape.h"
#include "qtorch/testing/bits.h"
#include "qtorch/testing/compare.h"

namespace qtorch::testing {
namespace {

// Same output: bitwise (the sign of zero counts), any NaN equal to any NaN.
bool same(float a, float b) { return elements_equal(a, b); }

Tensor call(const QuantizeFn& quantize, const Tensor& x) {
  Tensor y = quantize(x);
  QTORCH_CHECK(y.defined() && y.shape() == x.shape(),
               "testing::check_stochastic_rounding: expected the function to return x's shape {}, got {}",
               shape_str(x.shape()), y.defined() ? shape_str(y.shape()) : std::string("an undefined tensor"));
  return y;
}

}  // namespace

std::vector<float> block_maxima(const Tensor& x, const BlockFloatingPoint& b) {
  b.validate();
  QTORCH_CHECK(b.dim < x.dim(), "testing::block_maxima: expected dim < {} (x's rank), got dim = {}", x.dim(), b.dim);
  const std::vector<float> v = x.to_vector();
  const int64_t n = static_cast<int64_t>(v.size());
  int64_t inner = 1, blocks = 1;
  if (b.dim >= 0) {
    blocks = x.shape()[b.dim];
    for (int64_t d = b.dim + 1; d < x.dim(); ++d) inner *= x.shape()[d];
  }
  const auto block_of = [&](int64_t e) { return b.dim < 0 ? 0 : (e / inner) % blocks; };
  std::vector<float> m(blocks, 0.0f);
  for (int64_t e = 0; e < n; ++e) {
    float& slot = m[block_of(e)];
    const float a = std::fabs(v[e]);
    if (std::isnan(a) || std::isnan(slot)) slot = std::numeric_limits<float>::quiet_NaN();
    else slot = std::max(slot, a);
  }
  std::vector<float> out(n);
  for (int64_t e = 0; e < n; ++e) out[e] = m[block_of(e)];
  return out;
}

std::vector<float> block_maxima(const Tensor& x, const MXFormat& f) {
  f.validate();
  const int64_t ndim = std::max<int64_t>(x.dim(), 1);
  QTORCH_CHECK(f.axis >= -ndim && f.axis < ndim,
               "testing::block_maxima: expected an axis in [{}, {}), got axis = {}", -ndim, ndim, f.axis);
  const int64_t axis = f.axis < 0 ? f.axis + ndim : f.axis;
  const Shape shape = x.dim() == 0 ? Shape{1} : x.shape();
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < ndim; ++d) inner *= shape[d];
  const int64_t len = shape[axis];
  const std::vector<float> v = x.to_vector();
  const int64_t n = static_cast<int64_t>(v.size());
  // Element e sits at (o, r, k) of [outer, len, inner]; its block is (o, r / block, k).
  const auto block_key = [&](int64_t e) {
    const int64_t k = e % inner, r = (e / inner) % len, o = e / (inner * len);
    return (o * ((len + f.block - 1) / f.block) + r / f.block) * inner + k;
  };
  std::map<int64_t, float> m;
  for (int64_t e = 0; e < n; ++e) {
    float& slot = m[block_key(e)];
    const float a = std::fabs(v[e]);
    if (std::isnan(a) || std::isnan(slot)) slot = std::numeric_limits<float>::quiet_NaN();
    else slot = std::max(slot, a);
  }
  std::vector<float> out(n);
  for (int64_t e = 0; e < n; ++e) out[e] = m[block_key(e)];
  return out;
}

std::vector<GridNeighbours> grid_neighbours(const Tensor& x, const Number& number) {
  const std::vector<float> v = x.to_vector();
  std::vector<float> maxima;
  if (const auto* b = std::get_if<BlockFloatingPoint>(&number)) maxima = block_maxima(x, *b);
  if (const auto* mx = std::get_if<MXFormat>(&number)) maxima = block_maxima(x, *mx);
  std::vector<GridNeighbours> out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    out.push_back(grid_neighbours(v[i], number, maxima.empty() ? std::optional<float>() : maxima[i]));
  return out;
}

StochasticResult check_stochastic_rounding(const QuantizeFn& quantize, const Tensor& x, const Number& number,
                                           const StochasticOptions& options) {
  return check_stochastic_rounding(quantize, x, grid_neighbours(x, number), options);
}

StochasticResult check_stochastic_rounding(const QuantizeFn& quantize, const Tensor& x,
                                           const std::vector<GridNeighbours>& grid, const StochasticOptions& options) {
  const int64_t n = x.numel();
  QTORCH_CHECK(static_cast<int64_t>(grid.size()) == n,
               "testing::check_stochastic_rounding: expected one GridNeighbours per element ({}), got {}", n,
               grid.size());
  QTORCH_CHECK(options.samples >= 1 && options.false_alarm > 0 && options.false_alarm < 1,
               "testing::check_stochastic_rounding: expected samples >= 1 and 0 < false_alarm < 1, got {} and {}",
               options.samples, options.false_alarm);
  const auto reseed = options.reseed ? options.reseed : [](uint64_t s) { manual_seed(s); };
  const std::vector<float> xv = x.to_vector();
  StochasticResult r;

  // Probability of rounding to `upper`, for elements strictly between two finite points.
  std::vector<double> p(n, -1.0);
  int64_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    const GridNeighbours& g = grid[i];
    if (g.on_grid() || !std::isfinite(g.lower) || !std::isfinite(g.upper)) continue;
    p[i] = (static_cast<double>(xv[i]) - g.lower) / (static_cast<double>(g.upper) - g.lower);
    ++m;
  }
  const double alpha = options.false_alarm / 2;  // half for the mean, half for fresh bits
  r.bound = m ? std::sqrt(std::log(2.0 * m / alpha) / (2.0 * options.samples)) : 0.0;

  // (d) reproducibility and fresh bits.
  reseed(options.seed);
  const std::vector<float> y1 = call(quantize, x).to_vector();
  reseed(options.seed);
  const std::vector<float> y2 = call(quantize, x).to_vector();
  const std::vector<float> y3 = call(quantize, x).to_vector();
  std::string first_failure;
  for (int64_t i = 0; i < n && r.reproducible; ++i)
    if (!same(y1[i], y2[i])) {
      r.reproducible = false;
      first_failure = fmt::format("the same seed {} gave different outputs: element {} (x = {}) gave {} then {}",
                                  options.seed, i, describe_float(xv[i]), describe_float(y1[i]),
                                  describe_float(y2[i]));
    }
  // (a), (b), (c) over the samples.
  std::vector<int64_t> ups(n, 0);
  bool all_repeat = true;  // every call after y1 (y3 and the samples) repeated y1's bits
  for (int64_t i = 0; i < n; ++i)
    if (!same(y1[i], y3[i])) all_repeat = false;
  for (int64_t s = 0; s < options.samples; ++s) {
    const std::vector<float> y = call(quantize, x).to_vector();
    for (int64_t i = 0; i < n; ++i) {
      if (!same(y[i], y1[i])) all_repeat = false;
      const GridNeighbours& g = grid[i];
      if (g.on_grid()) {
        if (same(y[i], g.lower)) continue;
        if (r.moved++ == 0 && first_failure.empty())
          first_failure = fmt::format("element {}: x = {} is on the grid (or clamps to {}) but came out as {}", i,
                                      describe_float(xv[i]), describe_float(g.lower), describe_float(y[i]));
      } else if (same(y[i], g.upper)) {
        ++ups[i];
      } else if (!same(y[i], g.lower)) {
        if (r.off_grid++ == 0 && first_failure.empty())
          first_failure = fmt::format(
              "element {}: x = {} came out as {}, neither neighbouring grid point {} nor {}", i,
              describe_float(xv[i]), describe_float(y[i]), describe_float(g.lower), describe_float(g.upper));
      }
    }
  }
  // Fresh bits: with fresh bits, calls 1, 3, 4, ... (samples + 2 calls) all give the same
  // outputs with probability prod_i (p_i^N + (1 - p_i)^N); checked when that is <= alpha.
  const double calls = static_cast<double>(options.samples + 2);
  double p_all_equal = 1.0;
  for (int64_t i = 0; i < n; ++i)
    if (p[i] >= 0) p_all_equal *= std::pow(p[i], calls) + std::pow(1 - p[i], calls);
  r.fresh_checked = p_all_equal <= alpha;
  if (r.fresh_checked && all_repeat) {
    r.fresh = false;
    if (first_failure.empty())
      first_failure = fmt::format(
          "{} calls without reseeding all gave the same outputs (chance {:.3g} with fresh bits): the function does "
          "not draw fresh random bits",
          options.samples + 2, p_all_equal);
  }
  std::string first_biased;
  for (int64_t i = 0; i < n; ++i) {
    if (p[i] < 0) continue;
    const double freq = static_cast<double>(ups[i]) / options.samples;
    if (std::fabs(freq - p[i]) <= r.bound) continue;
    if (r.biased++ == 0) {
      const double mean = grid[i].lower + freq * (static_cast<double>(grid[i].upper) - grid[i].lower);
      first_biased = fmt::format(
          "element {}: x = {} between {} and {} went up in {} of {} samples (frequency {:.6g}, expected {:.6g}, "
          "allowed +-{:.4g}); sample mean {:.9g} instead of {:.9g}",
          i, describe_float(xv[i]), describe_float(grid[i].lower), describe_float(grid[i].upper), ups[i],
          options.samples, freq, p[i], r.bound, mean, static_cast<double>(xv[i]));
    }
  }
  if (first_failure.empty() && !first_biased.empty()) first_failure = first_biased;
  r.ok = r.off_grid == 0 && r.biased == 0 && r.moved == 0 && r.reproducible && r.fresh;
  if (!r.ok)
    r.message = fmt::format(
        "stochastic rounding check failed ({} samples of {} elements; off grid {}, biased {}, moved {}, "
        "reproducible {}, fresh bits {}): {}",
        options.samples, n, r.off_grid, r.biased, r.moved, r.reproducible ? "yes" : "NO",
        r.fresh_checked ? (r.fresh ? "yes" : "NO") : "not checked", first_failure);
  return r;
}

QuantizeFn backward_as_quantize(const std::function<Tensor(const Tensor&)>& quantizer, const Tensor& forward_input) {
  return [quantizer, forward_input](const Tensor& g) {
    Tensor leaf = forward_input.detach().clone();
    leaf.requires_grad_(true);
    Tensor y = quantizer(leaf);
    QTORCH_CHECK(y.requires_grad(), "testing::backward_as_quantize: expected the quantizer to record a graph node, "
                                    "got an output that does not require grad");
    y.backward(g);
    Tensor gx = leaf.grad();
    return gx.defined() ? gx : zeros_like(g);
  };
}

StochasticResult check_stochastic_rounding_backward(const std::function<Tensor(const Tensor&)>& quantizer,
                                                    const Tensor& grad_output, const Number& backward_number,
                                                    const StochasticOptions& options, const Tensor& forward_input) {
  const Tensor x = forward_input.defined() ? forward_input : zeros_like(grad_output);
  QTORCH_CHECK(x.shape() == grad_output.shape(),
               "testing::check_stochastic_rounding_backward: expected forward_input of grad_output's shape {}, got {}",
               shape_str(grad_output.shape()), shape_str(x.shape()));
  return check_stochastic_rounding(backward_as_quantize(quantizer, x), grad_output, backward_number, options);
}

}  // namespace qtorch::testing
