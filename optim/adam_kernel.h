// The fused Adam/AdamW update behind optim::Adam::step: one pass over each parameter that
// computes the rule element by element, every product, quotient, square root and sum
// rounded on its own (never an FMA), so the fused pass gives the bits of the tensor-op
// sequence it replaces, on the CPU and on a GPU alike. Kernel internals: not installed.
#pragma once

#include <cstdint>
#include <vector>

#include "qtorch/core/hostdevice.h"
#include "qtorch/optim/rounded_ops.h"

namespace qtorch::optim {

/// The options of one update, as floats.
struct AdamConstants {
  float beta1 = 0.9f, one_minus_beta1 = 0.1f;
  float beta2 = 0.999f, one_minus_beta2 = 0.001f;
  float eps = 1e-8f;
};

/// What differs between parameters: the group's learning rate and the parameter's step.
struct AdamScalars {
  float decay = 1.0f;             // AdamW: p *= 1 - lr * weight_decay first (1: none)
  float weight_decay = 0.0f;      // Adam: g += p * weight_decay (0: none)
  float bias_correction2 = 1.0f;  // sqrt(1 - beta2^t)
  float step_scale = 0.0f;        // -lr / (1 - beta1^t)
};

/// One parameter of a fused update: n contiguous floats of the weight, its gradient and
/// its two moments.
struct AdamTensor {
  float* p = nullptr;
  const float* g = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  int64_t n = 0;
  AdamScalars s;
};

/// One element, in the order of the tensor ops of optim::Adam (docs/numerics.md):
///   p = p * decay (AdamW) or g = g + p * wd (Adam);  m = m * b1 + g * (1 - b1);
///   v = v * b2 + (g * g) * (1 - b2);  p = p + (m / (sqrt(v) / bc2 + eps)) * step_scale.
/// Returns the new weight; m and v are read and written. A factor of exactly 1 is not
/// applied, as the tensor ops skip it (multiplying by 1 is exact anyway).
QTORCH_HD float adam_element(float p, float g, float& m, float& v, const AdamScalars& s, const AdamConstants& c) {
  if (s.decay != 1.0f) p = rounded_mul(p, s.decay);
  if (s.weight_decay != 0.0f) g = rounded_add(g, rounded_mul(p, s.weight_decay));
  m = rounded_add(rounded_mul(m, c.beta1), c.one_minus_beta1 == 1.0f ? g : rounded_mul(g, c.one_minus_beta1));
  const float gg = rounded_mul(g, g);
  v = rounded_add(rounded_mul(v, c.beta2), c.one_minus_beta2 == 1.0f ? gg : rounded_mul(gg, c.one_minus_beta2));
  const float denom = rounded_add(rounded_div(rounded_sqrt(v), s.bias_correction2), c.eps);
  const float q = rounded_div(m, denom);
  return rounded_add(p, s.step_scale == 1.0f ? q : rounded_mul(q, s.step_scale));
}

/// Every tensor of `tensors` updated on the CPU (tensors must not overlap).
void adam_update_cpu(const std::vector<AdamTensor>& tensors, const AdamConstants& c);
/// The same on CUDA device `device`, in as few launches as the kernel's parameter space
/// allows (non-CUDA builds throw).
void adam_update_cuda(const std::vector<AdamTensor>& tensors, const AdamConstants& c, int device);

}  // namespace qtorch::optim
