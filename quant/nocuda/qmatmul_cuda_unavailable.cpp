// qmatmul_cuda in a build without CUDA: always throws.
#include "qtorch/core/error.h"
#include "qtorch/quant/qmatmul_cuda.h"

namespace qtorch::quant {

void qmatmul_cuda(const float*, const float*, float*, const MacParams&, uint64_t, uint64_t) {
  QTORCH_FAIL("qmatmul: got CUDA tensors, but qtorch was built without CUDA");
}

}  // namespace qtorch::quant
