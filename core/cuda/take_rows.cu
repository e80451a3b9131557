// Row selection on the GPU: out[i, :] = x[index[i], :], the gather of a shuffled batch from
// a data set that lives on the device (the index is checked on the host by ops::take_rows).
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"

namespace qtorch::cuda {
namespace {

// One thread per output element, consecutive threads along a row (coalesced reads of each
// source row and writes of each output row).
__global__ void take_rows_kernel(const float* x, const float* index, float* out, int64_t m, int64_t row) {
  const int64_t total = m * row;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / row, c = e - i * row;
    out[e] = x[static_cast<int64_t>(index[i]) * row + c];
  }
}

}  // namespace

void CudaBackend::take_rows(const Tensor& x, const Tensor& index, const Tensor& out) {
  QTORCH_CHECK(x.is_contiguous() && index.is_contiguous() && out.is_contiguous(),
               "take_rows: expected contiguous x, index and out");
  const int64_t m = out.size(0), row = m > 0 ? out.numel() / m : 0;
  if (m == 0 || row == 0) return;
  DeviceGuard guard(x);
  take_rows_kernel<<<blocks_for(m * row, 256), 256, 0, guard.stream()>>>(x.data_ptr(), index.data_ptr(),
                                                                        out.data_ptr(), m, row);
  QTORCH_CUDA_CHECK_LAUNCH();
}

}  // namespace qtorch::cuda
