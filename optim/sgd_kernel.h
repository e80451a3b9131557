// The fused SGD update behind optim::SGD::step: one pass over each parameter that computes
// PyTorch's update rule element by element, with every product and sum rounded on its own
// (never an FMA), so the fused pass gives the bits of the tensor-op sequence it replaces,
// on the CPU and on a GPU alike. On a GPU one launch updates every parameter of a device.
// Kernel internals: not installed.
#pragma once

#include <cstdint>
#include <vector>

#include "qtorch/core/hostdevice.h"
#include "qtorch/optim/rounded_ops.h"

namespace qtorch::optim {

/// The options of one update, as floats (PyTorch's rule computes in the parameter's dtype).
struct SGDConstants {
  float momentum = 0.0f;      // 0: no momentum buffer
  float keep = 1.0f;          // 1 - dampening
  float weight_decay = 0.0f;  // 0: none
  bool nesterov = false;
};

/// One parameter of a fused update: n contiguous floats of the weight p, its gradient g and
/// (with momentum) its buffer; `first`: the buffer is set to the gradient instead of decayed.
struct SGDTensor {
  float* p = nullptr;
  const float* g = nullptr;
  float* buf = nullptr;
  int64_t n = 0;
  float lr = 0.0f;
  bool first = false;
};

/// One element, in the order of the tensor ops of optim::SGD (docs/numerics.md):
///   d = g + p * wd;  buf = first ? d : buf * m + d * (1 - dampening);
///   d = nesterov ? d + buf * m : buf;  p = p + d * (-lr).
/// Returns the new weight; `buf` (ignored without momentum) is read and written. A factor
/// of exactly 1 (no dampening) is not applied, as Tensor::add_ skips it. Values in, values
/// out, and no branch that loads: the CPU loop vectorises it.
QTORCH_HD float sgd_element(float p, float g, float& buf, bool first, float lr, const SGDConstants& c) {
  float d = g;
  if (c.weight_decay != 0.0f) d = rounded_add(d, rounded_mul(p, c.weight_decay));
  if (c.momentum != 0.0f) {
    const float b = first ? d : rounded_add(rounded_mul(buf, c.momentum), c.keep == 1.0f ? d : rounded_mul(d, c.keep));
    buf = b;
    d = c.nesterov ? rounded_add(d, rounded_mul(b, c.momentum)) : b;
  }
  return rounded_add(p, rounded_mul(d, -lr));
}

/// Every tensor of `tensors` updated on the CPU (tensors must not overlap).
void sgd_update_cpu(const std::vector<SGDTensor>& tensors, const SGDConstants& c);
/// The same on CUDA device `device`, in as few launches as the kernel's parameter space
/// allows (non-CUDA builds throw).
void sgd_update_cuda(const std::vector<SGDTensor>& tensors, const SGDConstants& c, int device);

}  // namespace qtorch::optim
