// The per-element steps of the fused optimizer updates on a GPU (optim/cuda/tensor_list.cuh
// runs them over a list of parameters): each is the CPU's element function (sgd_element,
// adam_element), reading and writing one element of one parameter.
#pragma once

#include <cstdint>

#include "qtorch/optim/adam_kernel.h"
#include "qtorch/optim/sgd_kernel.h"

namespace qtorch::optim {

struct SGDStep {
  SGDConstants c;
  __device__ void operator()(const SGDTensor& t, int64_t e) const {
    float b = t.buf != nullptr ? t.buf[e] : 0.0f;
    t.p[e] = sgd_element(t.p[e], t.g[e], b, t.first, t.lr, c);
    if (t.buf != nullptr) t.buf[e] = b;
  }
};

struct AdamStep {
  AdamConstants c;
  __device__ void operator()(const AdamTensor& t, int64_t e) const {
    float m = t.m[e], v = t.v[e];
    t.p[e] = adam_element(t.p[e], t.g[e], m, v, t.s, c);
    t.m[e] = m;
    t.v[e] = v;
  }
};

/// Parameters per launch: as many as fit the 4 KB of kernel parameters.
inline constexpr int kSGDListMax = 48;
inline constexpr int kAdamListMax = 40;

}  // namespace qtorch::optim
