// The fused Adam/AdamW update on a GPU (optim/adam_kernel.h): one launch updates up to 40
// parameters (optim/cuda/tensor_list.cuh). Every element is adam_element, the CPU's code,
// with no contracted products (optim/cuda/updates.cuh).
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/queued_launch.cuh"
#include "qtorch/optim/adam_kernel.h"
#include "qtorch/optim/cuda/tensor_list.cuh"
#include "qtorch/optim/cuda/updates.cuh"

namespace qtorch::optim {

void adam_update_cuda(const std::vector<AdamTensor>& tensors, const AdamConstants& c, int device) {
  cuda::DeviceGuard guard(device);
  for_each_element<kAdamListMax>(tensors, AdamStep{c}, cuda::QueuedLaunch{guard.stream()});
}

}  // namespace qtorch::optim
