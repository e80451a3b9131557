// The fused SGD update on a GPU (optim/sgd_kernel.h): one launch updates up to kMaxTensors
// parameters, a CUDA block per chunk of kChunk elements of one of them. Every element is
// sgd_element, the CPU's code, with products and sums that are never contracted.
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/optim/sgd_kernel.h"

namespace qtorch::optim {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kChunk = 4 * kThreads * 4;  // elements per CUDA block
/// Tensors per launch, passed by value: well inside the 4 KB of kernel parameters.
constexpr int kMaxTensors = 48;

struct SGDList {
  SGDTensor at[kMaxTensors];
  uint32_t first_block[kMaxTensors];
  int count = 0;
  uint32_t blocks = 0;
};

__global__ void __launch_bounds__(kThreads) sgd_kernel(SGDList list, SGDConstants c) {
  int i = 0;
  while (i + 1 < list.count && blockIdx.x >= list.first_block[i + 1]) ++i;
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
  constexpr int64_t kMaxBlocks = (int64_t{1} << 31) - 1;
  SGDList list;
  auto launch = [&] {
    if (list.count == 0) return;
    sgd_kernel<<<list.blocks, kThreads, 0, guard.stream()>>>(list, c);
    QTORCH_CUDA_CHECK_LAUNCH();
    list = SGDList{};
  };
  for (const SGDTensor& t : tensors) {
    if (t.n <= 0) continue;
    const int64_t blocks = (t.n + kChunk - 1) / kChunk;
    QTORCH_CHECK(blocks <= kMaxBlocks, "SGD (cuda): a parameter of {} elements is too large for one launch", t.n);
    if (list.count == kMaxTensors || list.blocks + blocks > kMaxBlocks) launch();
    list.at[list.count] = t;
    list.first_block[list.count] = list.blocks;
    ++list.count;
    list.blocks += static_cast<uint32_t>(blocks);
  }
  launch();
}

}  // namespace qtorch::optim
