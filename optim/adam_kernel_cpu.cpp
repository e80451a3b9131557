// The fused Adam/AdamW update on the CPU (optim/adam_kernel.h). Built with
// -ffp-contract=off (see CMakeLists.txt): every product and sum stays its own rounding.
#include "qtorch/optim/adam_kernel.h"

#include <algorithm>

namespace qtorch::optim {
namespace {

/// Elements [begin, end) of one tensor: restrict pointers and local copies of the scalars,
/// so that the compiler vectorises the loop (adam_element's branches are loop-invariant).
void update_range(const AdamTensor& t, int64_t begin, int64_t end, const AdamConstants& constants) {
  const AdamConstants c = constants;
  const AdamScalars s = t.s;
  float* __restrict p = t.p;
  const float* __restrict g = t.g;
  float* __restrict m = t.m;
  float* __restrict v = t.v;
  for (int64_t i = begin; i < end; ++i) p[i] = adam_element(p[i], g[i], m[i], v[i], s, c);
}

}  // namespace

void adam_update_cpu(const std::vector<AdamTensor>& tensors, const AdamConstants& c) {
  constexpr int64_t kChunk = 65536;  // elements per OpenMP task; each element is independent
  for (const AdamTensor& t : tensors) {
    const int64_t chunks = (t.n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (int64_t k = 0; k < chunks; ++k) update_range(t, k * kChunk, std::min(t.n, (k + 1) * kChunk), c);
  }
}

}  // namespace qtorch::optim
