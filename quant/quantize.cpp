// quantize(): format validation, kernel parameters, random offsets and the per-device
// dispatch (quant/cpu or the CUDA seam in quant/quantize_cuda.h).
#include "qtorch/quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/backend.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/view.h"
#include "qtorch/quant/cpu/quantize_cpu.h"
#include "qtorch/quant/quantize_cuda.h"
#include "qtorch/quant/rounding_core.h"

namespace qtorch::quant {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

void fixed_params(const FixedPoint& f, QuantParams& p) {
  p.family = QuantFamily::Fixed;
  p.q = -f.fl;
  p.unit = pow2_bits(p.q);
  if (!f.clamp) {
    p.lo = -kInf;
    p.hi = kInf;
    return;
  }
  const int top = f.wl - f.fl - 1;  // the range is [-2^top, 2^top - 2^-fl]
  // t_max rounded down to a float32 (exact up to 25-bit words; all floats that large are
  // multiples of the quantum, so the grid and the mask stay exact beyond).
  double hi = f.wl - 1 <= 24 ? std::ldexp(std::ldexp(1.0, f.wl - 1) - 1.0, -f.fl)
                             : std::ldexp(1.0 - std::ldexp(1.0, -24), top);
  p.hi = static_cast<float>(hi);
  p.lo = f.symmetric ? -p.hi : static_cast<float>(-std::ldexp(1.0, top));
}

void float_params(const FloatingPoint& f, QuantParams& p) {
  p.family = QuantFamily::Float;
  p.man = f.man;
  p.emin = f.emin();
  p.qsub = f.subnormals ? p.emin - f.man : p.emin;
  p.unit = pow2_bits(p.qsub);
  p.max_bits = float_bits(f.max_value());
  const bool has_inf = f.range != FloatRange::FiniteNaN;
  const uint32_t unsaturated = has_inf ? kInfBits : kNaNBits;
  p.ovf_bits = f.saturate ? p.max_bits : unsaturated;
  p.inf_bits = f.range == FloatRange::IEEE ? kInfBits : p.ovf_bits;
}

void block_params(const BlockFloatingPoint& b, const Shape& shape, QuantParams& p) {
  p.family = QuantFamily::Block;
  p.wl = b.wl;
  const int64_t ndim = static_cast<int64_t>(shape.size());
  QTORCH_CHECK(b.dim < ndim || (b.dim == -1),
               "block_quantize: expected -1 <= dim < x.dim() = {}, got dim={}", ndim, b.dim);
  if (b.dim == -1) {
    p.outer = 1;
    p.blocks = 1;
    p.inner = numel_of(shape);
    return;
  }
  p.outer = 1;
  p.inner = 1;
  for (int64_t d = 0; d < b.dim; ++d) p.outer *= shape[d];
  p.blocks = shape[b.dim];
  for (int64_t d = b.dim + 1; d < ndim; ++d) p.inner *= shape[d];
}

/// Resolves a (possibly negative) axis against a tensor of `ndim` dimensions.
int64_t resolve_axis(int axis, int64_t ndim, const char* what) {
  QTORCH_CHECK(axis >= -ndim && axis < ndim,
               "quantize: {} expected an axis in [{}, {}) for a tensor of {} dimensions, got axis={}",
               what, -ndim, ndim, ndim, axis);
  return axis < 0 ? axis + ndim : axis;
}

/// x seen as [outer, len, inner] around the block axis.
void microscaling_layout(int axis, int block, const Shape& tensor_shape, const char* what,
                         QuantParams& p) {
  // A scalar is one element on one axis.
  const Shape shape = tensor_shape.empty() ? Shape{1} : tensor_shape;
  const int64_t ndim = static_cast<int64_t>(shape.size());
  const int64_t a = resolve_axis(axis, ndim, what);
  p.outer = 1;
  p.inner = 1;
  for (int64_t d = 0; d < a; ++d) p.outer *= shape[d];
  p.len = shape[a];
  for (int64_t d = a + 1; d < ndim; ++d) p.inner *= shape[d];
  p.block = block;
}

ElementFormat element_format(MXElement e) {
  switch (e) {
    case MXElement::E4M3: return {.man = 3, .emin = -6, .emax = 8, .max_bits = float_bits(448.0f)};
    case MXElement::E5M2: return {.man = 2, .emin = -14, .emax = 15, .max_bits = float_bits(57344.0f)};
    case MXElement::E3M2: return {.man = 2, .emin = -2, .emax = 4, .max_bits = float_bits(28.0f)};
    case MXElement::E2M3: return {.man = 3, .emin = 0, .emax = 2, .max_bits = float_bits(7.5f)};
    case MXElement::E2M1: return {.man = 1, .emin = 0, .emax = 2, .max_bits = float_bits(6.0f)};
    case MXElement::Int8: return {.man = 6, .emin = 0, .emax = 0, .max_bits = float_bits(127.0f / 64.0f)};
  }
  QTORCH_FAIL("quantize: unknown MX element code {}", static_cast<int>(e));
}

}  // namespace

QuantParams make_quant_params(const Number& number, Rounding rounding, const Shape& shape) {
  validate(number);
  check_rounding(rounding, "quantize: rounding");
  QuantParams p;
  if (auto* f = std::get_if<FixedPoint>(&number))
    fixed_params(*f, p);
  else if (auto* fp = std::get_if<FloatingPoint>(&number))
    float_params(*fp, p);
  else if (auto* b = std::get_if<BlockFloatingPoint>(&number))
    block_params(*b, shape, p);
  else if (auto* mx = std::get_if<MXFormat>(&number)) {
    p.family = QuantFamily::MX;
    p.element = element_format(mx->element);
    microscaling_layout(mx->axis, mx->block, shape, "an MX format", p);
  } else {
    const auto& nv = std::get<NVFP4Format>(number);
    p.family = QuantFamily::NVFP4;
    p.element = {.man = 1, .emin = 0, .emax = 2, .max_bits = float_bits(6.0f)};
    microscaling_layout(nv.axis, nv.block, shape, "NVFP4", p);
  }
  p.kind = round_kind(p.family, rounding);
  return p;
}

namespace {

/// The element ops of a quantize_fused call as quantize_to takes them: the fusion, and the
/// number of elements after the bias's axis.
struct FusedOps {
  const QuantizeFusion* fusion = nullptr;  // null: none
  int64_t bias_inner = 1;
};

/// quantize_into with x's kernel parameters p; fresh_output says out was just allocated (a
/// CPU store hint). Element ops (only on a GPU, where element_ops_in_one_pass) go into the
/// kernel's pass.
void quantize_to(const Tensor& x, const Tensor& out, const QuantParams& p, const QuantizeOptions& options,
                 bool fresh_output, const FusedOps& fused = {}) {
  QTORCH_CHECK(x.defined(), "quantize: expected a defined tensor, got an undefined one");
  QTORCH_CHECK(out.defined() && out.shape() == x.shape() && out.device() == x.device(),
               "quantize: expected out of shape {} on {}, got {}", shape_str(x.shape()),
               x.device().str(), out.defined() ? shape_str(out.shape()) : "undefined");
  QTORCH_CHECK(out.is_contiguous(), "quantize: expected a contiguous out tensor, got one of strides {}",
               shape_str(out.strides()));
  if (!fresh_output) {
    // As the in-place ops of core/tensor.h: the gradient of a tensor an op made would ignore
    // the write (the straight-through graph op is quant/quantizer.h's quantizer).
    QTORCH_CHECK(!GradMode::is_enabled() || out.grad_fn_name().empty(),
                 "quantize_into: in-place write into a tensor made by '{}' while grad mode is on: its gradient "
                 "would ignore the change; quantize it out of place (quantize(x, ...)), or write into x.detach() "
                 "or under NoGradGuard where the gradient should not see it",
                 out.grad_fn_name());
    out.bump_version();
  }
  NoGradGuard no_grad;
  // out over x's memory in another layout (a shifted slice) would be written before it is
  // read: quantize a copy. The very same elements (out = x) are fine, element by element or
  // block by block.
  const Tensor xc = ops::overlaps_in_other_layout(x, out) ? ops::clone(x) : ops::contiguous(x);
  const int64_t n = xc.numel();

  uint64_t seed = 0, offset = 0;
  if (p.kind == RoundKind::Stochastic) {
    Generator& g = options.generator ? *options.generator : default_generator();
    seed = g.seed();
    offset = g.reserve(static_cast<uint64_t>((n + 3) / 4));
  }
  float* mask = nullptr;
  if (options.mask) {
    *options.mask = empty(x.shape(), x.device());
    mask = options.mask->data_ptr();
  }
  StatsCounter* counter = options.counter && !options.counter->paused() ? options.counter : nullptr;
  QuantStats stats{0, 0, n};
  if (n > 0 && x.device().is_cpu()) {
    quantize_cpu(xc.data_ptr(), out.data_ptr(), mask, n, p, seed, offset, options.stats || counter ? &stats : nullptr,
                 fresh_output);
    if (counter) counter->add_host(stats);
  } else if (n > 0) {
    // On a GPU the kernel adds its counts to device counters: this call's own, read at once
    // (a wait) when `stats` asks for them, else the counter's, read whenever its owner asks.
    const int device = x.device().index;
    StatsCounter call;
    StatsCounter* target = options.stats ? &call : counter;
    ElementOps element_ops;
    Tensor bias, gate;  // contiguous, held until the launch is queued
    if (const QuantizeFusion* f = fused.fusion) {
      if (f->bias.defined()) {
        bias = ops::contiguous(f->bias);
        element_ops.bias = BiasAdd{bias.data_ptr(), bias.numel(), fused.bias_inner};
      }
      if (f->gate.defined()) {
        gate = ops::contiguous(f->gate);
        element_ops.gate = gate.data_ptr();
      }
      element_ops.relu = f->relu;
    }
    quantize_cuda(xc.data_ptr(), out.data_ptr(), mask, n, p, seed, offset,
                  target ? target->device_counts(device) : nullptr, device, element_ops);
    if (target) target->queued();
    if (options.stats) {
      const QuantStats counted = call.read();
      stats = QuantStats{counted.clamped, counted.flushed, n};
    }
    if (counter) counter->add_host(options.stats ? stats : QuantStats{0, 0, n});
  }
  if (options.stats) *options.stats = stats;
}

}  // namespace

void quantize_into(const Tensor& x, const Tensor& out, const Number& number, Rounding rounding,
                   const QuantizeOptions& options) {
  QTORCH_CHECK(x.defined(), "quantize: expected a defined tensor, got an undefined one");
  quantize_to(x, out, make_quant_params(number, rounding, x.shape()), options, false);
}

Tensor quantize(const Tensor& x, const Number& number, Rounding rounding,
                const QuantizeOptions& options) {
  QTORCH_CHECK(x.defined(), "quantize: expected a defined tensor, got an undefined one");
  const QuantParams p = make_quant_params(number, rounding, x.shape());
  Tensor out = empty(x.shape(), x.device());
  quantize_to(x, out, p, options, true);
  return out;
}

namespace {

/// Checks x and a bias for it along `axis`; returns the axis made non-negative.
int64_t check_bias(const Tensor& x, const Tensor& bias, int axis, const char* what) {
  QTORCH_CHECK(x.defined() && x.dim() >= 1, "{}: expected x with at least one dimension, got {}", what,
               x.defined() ? shape_str(x.shape()) : "an undefined tensor");
  const int64_t a = bias_axis(x, axis, what);
  QTORCH_CHECK(bias.defined() && bias.dim() == 1 && bias.size(0) == x.size(a),
               "{}: expected a bias of shape [{}] (x's axis {}), got {}", what, x.size(a), a,
               bias.defined() ? shape_str(bias.shape()) : "an undefined tensor");
  QTORCH_CHECK(bias.device() == x.device(), "{}: expected the bias on {} (x's device), got {}", what,
               x.device().str(), bias.device().str());
  return a;
}

/// x + bias along axis a: each sum one float32 addition, in a new tensor.
Tensor sum_along(const Tensor& x, const Tensor& bias, int64_t a, const char* what) {
  Shape along(static_cast<size_t>(x.dim() - a), 1);  // [C, 1, ..., 1]: broadcast along axis a
  along[0] = bias.size(0);
  return ops::binary(BinaryOp::Add, x, ops::reshape(bias, along), what);
}

}  // namespace

Tensor add_bias(const Tensor& x, const Tensor& bias, int axis) {
  const int64_t a = check_bias(x, bias, axis, "add_bias");
  NoGradGuard no_grad;
  return sum_along(x, bias, a, "add_bias");
}

Tensor quantize_fused(const Tensor& x, const QuantizeFusion& fusion, const Number& number, Rounding rounding,
                      const QuantizeOptions& options) {
  QTORCH_CHECK(x.defined(), "quantize_fused: expected a defined tensor, got an undefined one");
  QTORCH_CHECK(!(fusion.bias.defined() && fusion.gate.defined()),
               "quantize_fused: expected a bias or a gate, got both (no op adds a bias to ReLU's backward)");
  FusedOps fused{.fusion = &fusion};
  int64_t a = 0;
  if (fusion.bias.defined()) {
    a = check_bias(x, fusion.bias, fusion.axis, "quantize_fused");
    for (int64_t d = a + 1; d < x.dim(); ++d) fused.bias_inner *= x.size(d);
  }
  if (fusion.gate.defined()) {
    QTORCH_CHECK(fusion.gate.shape() == x.shape() && fusion.gate.device() == x.device(),
                 "quantize_fused: expected a gate of x's shape {} on {}, got {} on {}", shape_str(x.shape()),
                 x.device().str(), shape_str(fusion.gate.shape()), fusion.gate.device().str());
  }
  const QuantParams p = make_quant_params(number, rounding, x.shape());
  NoGradGuard no_grad;
  const BiasAdd bias_layout = fusion.bias.defined() ? BiasAdd{nullptr, fusion.bias.numel(), fused.bias_inner}
                                                    : BiasAdd{};
  if (x.device().is_cuda() && element_ops_in_one_pass(p, x.numel(), bias_layout)) {
    Tensor out = empty(x.shape(), x.device());
    quantize_to(x, out, p, options, true, fused);
    return out;
  }
  // The ops one by one, with the values of the pass above: the input formed in a new tensor,
  // quantized in place, then the ReLU in place.
  Tensor in = x;
  if (fusion.gate.defined()) in = ops::where(fusion.gate, x, zeros({}, x.device()));
  if (fusion.bias.defined()) in = sum_along(in, fusion.bias, a, "quantize_fused");
  Tensor out = in;
  if (in.is_same(x)) {
    out = empty(x.shape(), x.device());
    quantize_to(x, out, p, options, true);
  } else {
    quantize_to(in, out, p, options, false);
  }
  if (fusion.relu && out.numel() > 0) backend_for(out.device()).unary(UnaryOp::Relu, out, out, 0.0f, 0.0f);
  return out;
}

Tensor quantize_bias_add(const Tensor& x, const Tensor& bias, int axis, const Number& number, Rounding rounding,
                         const QuantizeOptions& options) {
  check_bias(x, bias, axis, "quantize_bias_add");  // an undefined bias is an error here
  return quantize_fused(x, QuantizeFusion{.bias = bias, .axis = axis}, number, rounding, options);
}

int64_t bias_axis(const Tensor& x, int axis, const char* what) {
  QTORCH_CHECK(axis >= -x.dim() && axis < x.dim(), "{}: expected an axis in [{}, {}) for x of shape {}, got {}", what,
               -x.dim(), x.dim(), shape_str(x.shape()), axis);
  return axis < 0 ? axis + x.dim() : axis;
}

namespace {

/// Whether the list can go to the device in one call: all on one CUDA device, no two
/// tensors on one storage (in place, a shared storage would make the order matter).
bool one_device_call(const std::vector<Tensor>& xs) {
  if (xs.size() < 2 || !xs.front().device().is_cuda()) return false;
  std::vector<const Storage*> storages;
  for (const Tensor& x : xs) {
    if (x.device() != xs.front().device()) return false;
    storages.push_back(x.storage().get());
  }
  std::sort(storages.begin(), storages.end());
  return std::adjacent_find(storages.begin(), storages.end()) == storages.end();
}

}  // namespace

void quantize_each_in_place(const std::vector<Tensor>& xs, const Number& number, Rounding rounding,
                            const QuantizeOptions& options) {
  QTORCH_CHECK(options.mask == nullptr,
               "quantize_each_in_place: expected no mask option (a list has no one clamp mask), got one");
  for (size_t i = 0; i < xs.size(); ++i)
    QTORCH_CHECK(xs[i].defined(), "quantize_each_in_place: expected defined tensors, got an undefined one at {}", i);
  // Every tensor's parameters first, so that a format that does not fit one of them (a
  // block dim past its last axis) throws before anything is written.
  std::vector<QuantParams> params;
  for (const Tensor& x : xs) params.push_back(make_quant_params(number, rounding, x.shape()));
  NoGradGuard no_grad;
  QuantStats total;
  if (!one_device_call(xs)) {
    for (size_t i = 0; i < xs.size(); ++i) {
      Tensor x = xs[i];  // a handle: writes go to the caller's tensor
      QuantStats stats;
      QuantizeOptions one = options;
      one.stats = options.stats ? &stats : nullptr;
      if (x.is_contiguous()) {
        quantize_to(x, x, params[i], one, false);
      } else {
        Tensor q = empty(x.shape(), x.device());
        quantize_to(x, q, params[i], one, true);
        x.copy_(q);
      }
      total += stats;
    }
    if (options.stats) *options.stats = total;
    return;
  }
  // One call for the list: each tensor's parameters and random blocks, reserved in list
  // order as the calls one by one would reserve them.
  Generator& g = options.generator ? *options.generator : default_generator();
  std::vector<QuantizeListItem> items;
  std::vector<std::pair<Tensor, Tensor>> copies;  // (x, its contiguous copy) to copy back
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    const QuantParams& p = params[i];
    x.bump_version();
    Tensor xc = x;
    if (!x.is_contiguous()) {
      xc = ops::contiguous(x);
      copies.emplace_back(x, xc);
    }
    const int64_t n = xc.numel();
    const uint64_t offset = p.kind == RoundKind::Stochastic ? g.reserve(static_cast<uint64_t>((n + 3) / 4)) : 0;
    items.push_back({xc.data_ptr(), n, p, offset});
    total.numel += n;
  }
  const int device = xs.front().device().index;
  StatsCounter* counter = options.counter && !options.counter->paused() ? options.counter : nullptr;
  StatsCounter call;
  StatsCounter* target = options.stats ? &call : counter;
  quantize_list_cuda(items, g.seed(), target ? target->device_counts(device) : nullptr, device);
  if (target) target->queued();
  for (auto& [x, xc] : copies) x.copy_(xc);
  if (options.stats) {
    const QuantStats counted = call.read();
    total.clamped = counted.clamped;
    total.flushed = counted.flushed;
    *options.stats = total;
  }
  if (counter) counter->add_host(options.stats ? total : QuantStats{0, 0, total.numel});
}

Tensor fixed_point_quantize(const Tensor& x, int wl, int fl, bool clamp, bool symmetric,
                            Rounding rounding) {
  return quantize(x, FixedPoint{.wl = wl, .fl = fl, .clamp = clamp, .symmetric = symmetric},
                  rounding);
}

Tensor block_quantize(const Tensor& x, int wl, int dim, Rounding rounding) {
  return quantize(x, BlockFloatingPoint{.wl = wl, .dim = dim}, rounding);
}

Tensor float_quantize(const Tensor& x, int exp, int man, Rounding rounding) {
  return quantize(x, FloatingPoint{.exp = exp, .man = man}, rounding);
}

}  // namespace qtorch::quant
