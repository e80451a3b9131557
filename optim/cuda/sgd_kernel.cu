// The fused SGD update on a GPU (optim/sgd_kernel.h): one launch updates up to 48
// parameters (optim/cuda/tensor_list.cuh). Every element is sgd_element, the CPU's code,
// with products and sums that are never contracted (optim/cuda/updates.cuh).
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/queued_launch.cuh"
#include "qtorch/optim/cuda/tensor_list.cuh"
#include "qtorch/optim/cuda/updates.cuh"

namespace qtorch::optim {

void sgd_update_cuda(const std::vector<SGDTensor>& tensors, const SGDConstants& c, int device) {
  cuda::DeviceGuard guard(device);
  for_each_element<kSGDListMax>(tensors, SGDStep{c}, cuda::QueuedLaunch{guard.stream()});
}

}  // namespace qtorch::optim
