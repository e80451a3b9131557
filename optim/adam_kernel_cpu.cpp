// The fused Adam/AdamW update on the CPU (optim/adam_kernel.h). Built with
// -ffp-contract=off (see CMakeLists.txt): every product and sum stays its own rounding.
#include "qtorch/optim/adam_kernel.h"

#include "qtorch/optim/fused_update.h"

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
  for_each_cpu_chunk(tensors, [&](const AdamTensor& t, int64_t begin, int64_t end) { update_range(t, begin, end, c); });
}

}  // namespace qtorch::optim
