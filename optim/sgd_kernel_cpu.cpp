// The fused SGD update on the CPU (optim/sgd_kernel.h). Built with -ffp-contract=off (see
// CMakeLists.txt): a product and the sum after it stay two roundings, as in the tensor ops.
#include "qtorch/optim/sgd_kernel.h"

#include "qtorch/optim/fused_update.h"

namespace qtorch::optim {

namespace {

/// Elements [begin, end) of one tensor; restrict pointers and values in registers, so that
/// the compiler vectorises the loop (the branches of sgd_element are loop-invariant).
void update_range(const SGDTensor& t, int64_t begin, int64_t end, const SGDConstants& constants) {
  const SGDConstants c = constants;  // a local copy: no store through p can change it
  float* __restrict p = t.p;
  const float* __restrict g = t.g;
  const float lr = t.lr;
  const bool first = t.first;
  if (t.buf != nullptr) {
    float* __restrict buf = t.buf;
    for (int64_t i = begin; i < end; ++i) p[i] = sgd_element(p[i], g[i], buf[i], first, lr, c);
  } else {
    for (int64_t i = begin; i < end; ++i) {
      float unused = 0.0f;
      p[i] = sgd_element(p[i], g[i], unused, first, lr, c);
    }
  }
}

}  // namespace

void sgd_update_cpu(const std::vector<SGDTensor>& tensors, const SGDConstants& c) {
  for_each_cpu_chunk(tensors, [&](const SGDTensor& t, int64_t begin, int64_t end) { update_range(t, begin, end, c); });
}

}  // namespace qtorch::optim
