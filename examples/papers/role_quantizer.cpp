// Counting quantizers for the paper harness: the layer quantizer (quant::quantizer with
// stats callbacks and a histogram hook) and OptimLP quantize functions.
#include "examples/papers/role_quantizer.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "quant/quantize.h"

namespace qrepro {

using qtorch::Tensor;

std::string Role::text() const {
  if (!number) return "fp32";
  return qtorch::number_text(number) + " " + qtorch::rounding_name(rounding);
}

void Counts::add(const qtorch::QuantStats& s, int64_t nonzero_inputs) {
  numel += s.numel;
  nonzero += nonzero_inputs;
  flushed += s.flushed;
  saturated += s.clamped;
}

int64_t count_nonzero(const Tensor& x) {
  Tensor c = x.contiguous();
  const float* p = c.data_ptr();
  int64_t n = c.numel(), nz = 0;
  for (int64_t i = 0; i < n; ++i) nz += (p[i] != 0.0f && std::isfinite(p[i])) ? 1 : 0;
  return nz;
}

void Log2Histogram::add(const Tensor& x) {
  Tensor c = x.contiguous();
  const float* p = c.data_ptr();
  const int64_t n = c.numel();
  for (int64_t i = 0; i < n; ++i) {
    float v = std::fabs(p[i]);
    if (v == 0.0f) {
      ++zeros;
      continue;
    }
    if (!std::isfinite(v)) continue;
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    int e = static_cast<int>((bits >> 23) & 0xff);
    // floor(log2 v): the exponent field for normals, the mantissa's top bit for subnormals.
    int lg = e != 0 ? e - 127 : -127 - std::countl_zero(bits << 9);
    ++bins[lg];
  }
}

int64_t Log2Histogram::total_nonzero() const {
  int64_t t = 0;
  for (const auto& [e, c] : bins) t += c;
  return t;
}

double Log2Histogram::fraction_below(int e) const {
  int64_t below = 0, t = total_nonzero();
  for (const auto& [k, c] : bins)
    if (k < e) below += c;
  return t ? double(below) / double(t) : 0.0;
}

Tensor quantize_counted(const Tensor& x, const Role& r, Counts* counts) {
  if (!r.on()) return x.detach().clone();
  qtorch::QuantStats s;
  Tensor out = qtorch::quant::quantize(x, *r.number, r.rounding, {.stats = &s});
  if (counts) counts->add(s, count_nonzero(x));
  return out;
}

LayerQuantizer::LayerQuantizer(Role activation, Role error, std::shared_ptr<LayerCounters> counters)
    : a_(std::move(activation)), e_(std::move(error)), counters_(std::move(counters)),
      nonzero_in_(std::make_shared<int64_t>(0)) {
  // QuantStats has no count of nonzero inputs, which flush fractions need: forward()
  // counts x, and a backward hook counts the incoming error (and records its histogram).
  qtorch::quant::QuantizerOptions o;
  o.forward_number = a_.number;
  o.forward_rounding = a_.rounding;
  o.backward_number = e_.number;
  o.backward_rounding = e_.rounding;
  auto c = counters_;
  auto nonzero = nonzero_in_;
  const bool count_error = e_.on();
  o.backward_hooks.push_back([c, nonzero, count_error](const Tensor& g) {
    if (c->record_histogram) c->error_histogram.add(g);
    if (count_error) *nonzero = count_nonzero(g);
    return g;
  });
  o.forward_stats = [c, nonzero](const qtorch::QuantStats& s) { c->activation.add(s, *nonzero); };
  o.backward_stats = [c, nonzero](const qtorch::QuantStats& s) {
    c->error.add(s, *nonzero);
    c->error_saturated_pending += s.clamped;
  };
  quantize_ = qtorch::quant::quantizer(std::move(o));
}

std::string LayerQuantizer::extra_repr() const {
  return "forward " + a_.text() + ", backward " + e_.text();
}

Tensor LayerQuantizer::forward(const Tensor& x) {
  if (a_.on()) *nonzero_in_ = count_nonzero(x);
  return quantize_(x);
}

qtorch::optim::QuantFn optim_quant_fn(const Role& r, std::shared_ptr<Counts> counts) {
  if (!r.on()) return {};
  return [r, counts](const Tensor& x) { return quantize_counted(x, r, counts.get()); };
}

}  // namespace qrepro
