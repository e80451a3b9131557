// The fused optimizer updates' CUDA seams in a build without CUDA: always throw (no CUDA
// tensor can exist in such a build, so nothing reaches them).
#include "qtorch/core/error.h"
#include "qtorch/optim/adam_kernel.h"
#include "qtorch/optim/sgd_kernel.h"

namespace qtorch::optim {

void sgd_update_cuda(const std::vector<SGDTensor>&, const SGDConstants&, int) {
  QTORCH_FAIL("SGD: got CUDA tensors, but qtorch was built without CUDA");
}

void adam_update_cuda(const std::vector<AdamTensor>&, const AdamConstants&, int) {
  QTORCH_FAIL("Adam: got CUDA tensors, but qtorch was built without CUDA");
}

}  // namespace qtorch::optim
