// The fused SGD update on the CPU (optim/sgd_kernel.h). Built with -ffp-contract=off (see
// CMakeLists.txt): a product and the sum after it stay two roundings, as in the tensor ops.
#include "qtorch/optim/sgd_kernel.h"

namespace qtorch::optim {

void sgd_update_cpu(const std::vector<SGDTensor>& tensors, const SGDConstants& c) {
  constexpr int64_t kChunk = 65536;  // elements per OpenMP task; each element is independent
  for (const SGDTensor& t : tensors) {
    const int64_t chunks = (t.n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (int64_t k = 0; k < chunks; ++k) {
      const int64_t end = t.n < (k + 1) * kChunk ? t.n : (k + 1) * kChunk;
      for (int64_t i = k * kChunk; i < end; ++i) sgd_element(t, i, c);
    }
  }
}

}  // namespace qtorch::optim
