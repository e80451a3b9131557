// The fused SGD update on a GPU (optim/sgd_kernel.h): one launch updates up to kMaxTensors
// parameters, a CUDA block per chunk of kChunk elements of one of them. Every element is
// sgd_element, the CPU's code, with products and sums that are never contracted.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/optim/cuda/tensor_list.cuh"
#include "qtorch/optim/sgd_kernel.h"

namespace qtorch::optim {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunk = 16 * kThreads;  // elements per CUDA block
/// Parameters per launch, passed by value: well inside the 4 KB of kernel parameters.
constexpr int kMaxTensors = 48;
using SGDList = TensorList<SGDTensor, kMaxTensors>;

__global__ void __launch_bounds__(kThreads) sgd_kernel(SGDList list, SGDConstants c) {
  const int i = list.item_of(blockIdx.x);
  const SGDTensor t = list.at[i];
  const int64_t begin = static_cast<int64_t>(blockIdx.x - list.first_block[i]) * kChunk;
  const int64_t end = begin + kChunk < t.n ? begin + kChunk : t.n;
  for (int64_t e = begin + threadIdx.x; e < end; e += kThreads) {
    float b = t.buf != nullptr ? t.buf[e] : 0.0f;
    t.p[e] = sgd_element(t.p[e], t.g[e], b, t.first, t.lr, c);
    if (t.buf != nullptr) t.buf[e] = b;
  }
}

}  // namespace

void sgd_update_cuda(const std::vector<SGDTensor>& tensors, const SGDConstants& c, int device) {
  cuda::DeviceGuard guard(device);
  for_each_tensor_list<kMaxTensors>(tensors, kChunk, [&](const SGDList& list) {
    sgd_kernel<<<list.blocks, kThreads, 0, guard.stream()>>>(list, c);
    QTORCH_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace qtorch::optim
