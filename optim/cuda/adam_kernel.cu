// The fused Adam/AdamW update on a GPU (optim/adam_kernel.h): one launch updates up to
// kMaxTensors parameters, a CUDA block per chunk of kChunk elements of one of them. Every
// element is adam_element, the CPU's code, with no contracted products.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/optim/adam_kernel.h"
#include "qtorch/optim/cuda/tensor_list.cuh"

namespace qtorch::optim {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunk = 16 * kThreads;  // elements per CUDA block
/// Parameters per launch, passed by value: well inside the 4 KB of kernel parameters.
constexpr int kMaxTensors = 40;
using AdamList = TensorList<AdamTensor, kMaxTensors>;

__global__ void __launch_bounds__(kThreads) adam_kernel(AdamList list, AdamConstants c) {
  const int i = list.item_of(blockIdx.x);
  const AdamTensor t = list.at[i];
  const int64_t begin = static_cast<int64_t>(blockIdx.x - list.first_block[i]) * kChunk;
  const int64_t end = begin + kChunk < t.n ? begin + kChunk : t.n;
  for (int64_t e = begin + threadIdx.x; e < end; e += kThreads) {
    float m = t.m[e], v = t.v[e];
    t.p[e] = adam_element(t.p[e], t.g[e], m, v, t.s, c);
    t.m[e] = m;
    t.v[e] = v;
  }
}

}  // namespace

void adam_update_cuda(const std::vector<AdamTensor>& tensors, const AdamConstants& c, int device) {
  cuda::DeviceGuard guard(device);
  for_each_tensor_list<kMaxTensors>(tensors, kChunk, [&](const AdamList& list) {
    adam_kernel<<<list.blocks, kThreads, 0, guard.stream()>>>(list, c);
    QTORCH_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace qtorch::optim
