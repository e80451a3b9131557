// The fused SGD update on a GPU (optim/sgd_kernel.h): one launch updates up to 48
// parameters (optim/cuda/tensor_list.cuh). Every element is sgd_element, the CPU's code,
// with products and sums that are never contracted.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/optim/cuda/tensor_list.cuh"
#include "qtorch/optim/sgd_kernel.h"

namespace qtorch::optim {
namespace {

struct SGDStep {
  SGDConstants c;
  __device__ void operator()(const SGDTensor& t, int64_t e) const {
    float b = t.buf != nullptr ? t.buf[e] : 0.0f;
    t.p[e] = sgd_element(t.p[e], t.g[e], b, t.first, t.lr, c);
    if (t.buf != nullptr) t.buf[e] = b;
  }
};

}  // namespace

void sgd_update_cuda(const std::vector<SGDTensor>& tensors, const SGDConstants& c, int device) {
  cuda::DeviceGuard guard(device);
  for_each_element<48>(tensors, SGDStep{c}, guard.stream());
}

}  // namespace qtorch::optim
