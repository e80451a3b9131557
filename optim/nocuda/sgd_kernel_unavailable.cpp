// The fused SGD update's CUDA seam in a build without CUDA: always throws (no CUDA tensor
// can exist in such a build, so nothing reaches it).
#include "qtorch/core/error.h"
#include "qtorch/optim/sgd_kernel.h"

namespace qtorch::optim {

void sgd_update_cuda(const std::vector<SGDTensor>&, const SGDConstants&, int) {
  QTORCH_FAIL("SGD: got CUDA tensors, but qtorch was built without CUDA");
}

}  // namespace qtorch::optim
