// quantize_cuda in a build without CUDA: always throws.
#include "qtorch/core/error.h"
#include "qtorch/quant/quantize_cuda.h"

namespace qtorch::quant {

void quantize_cuda(const float*, float*, float*, int64_t, const QuantParams&, uint64_t, uint64_t,
                   QuantStats*) {
  QTORCH_FAIL("quantize: got a CUDA tensor, but qtorch was built without CUDA");
}

}  // namespace qtorch::quant
