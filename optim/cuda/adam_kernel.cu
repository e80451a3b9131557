// The fused Adam/AdamW update on a GPU (optim/adam_kernel.h): one launch updates up to 40
// parameters (optim/cuda/tensor_list.cuh). Every element is adam_element, the CPU's code,
// with no contracted products.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/optim/adam_kernel.h"
#include "qtorch/optim/cuda/tensor_list.cuh"

namespace qtorch::optim {
namespace {

struct AdamStep {
  AdamConstants c;
  __device__ void operator()(const AdamTensor& t, int64_t e) const {
    float m = t.m[e], v = t.v[e];
    t.p[e] = adam_element(t.p[e], t.g[e], m, v, t.s, c);
    t.m[e] = m;
    t.v[e] = v;
  }
};

}  // namespace

void adam_update_cuda(const std::vector<AdamTensor>& tensors, const AdamConstants& c, int device) {
  cuda::DeviceGuard guard(device);
  for_each_element<40>(tensors, AdamStep{c}, guard.stream());
}

}  // namespace qtorch::optim
