// The CUDA backend's elementwise ops: copy and fill as memcpy and memset where they can be, the
// rest through the kernels of elementwise_kernels.cuh.
#include <cstring>

#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"
#include "qtorch/core/cuda/elementwise_kernels.cuh"
#include "qtorch/core/cuda/queued_launch.cuh"

namespace qtorch::cuda {
namespace {

using namespace elementwise_kernels;

template <int N, class F>
void launch(const Tensor* const (&tensors)[N], F f, const char* op) {
  StridedPlan<N> p = make_plan<N>(tensors, op);
  if (p.numel == 0) return;
  DeviceGuard guard(*tensors[0]);
  run_elementwise(p, f, QueuedLaunch{guard.stream()});
}

}  // namespace

void CudaBackend::copy(const Tensor& src, const Tensor& out) {
  QTORCH_CHECK(src.device().is_cuda() && out.device().is_cuda(),
               "copy: expected CUDA tensors, got {} and {}", src.device().str(), out.device().str());
  if (src.shape() == out.shape() && src.is_contiguous() && out.is_contiguous()) {
    if (out.numel() == 0 || src.data_ptr() == out.data_ptr()) return;
    DeviceGuard guard(out);
    QTORCH_CUDA_CHECK(cudaMemcpyAsync(out.data_ptr(), src.data_ptr(),
                                      static_cast<size_t>(out.numel()) * sizeof(float),
                                      cudaMemcpyDeviceToDevice, guard.stream()));
    return;
  }
  const Tensor* t[2] = {&out, &src};
  launch<2>(t, UnaryFn{UnaryOp::Copy, 0.0f, 0.0f}, "copy");
}

void CudaBackend::fill(const Tensor& out, float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if (bits == 0 && out.is_contiguous()) {
    if (out.numel() == 0) return;
    DeviceGuard guard(out);
    QTORCH_CUDA_CHECK(cudaMemsetAsync(out.data_ptr(), 0,
                                      static_cast<size_t>(out.numel()) * sizeof(float),
                                      guard.stream()));
    return;
  }
  const Tensor* t[1] = {&out};
  launch<1>(t, FillFn{value}, "fill");
}

void CudaBackend::unary(UnaryOp op, const Tensor& x, const Tensor& out, float a, float b) {
  const Tensor* t[2] = {&out, &x};
  launch<2>(t, UnaryFn{op, a, b}, "unary");
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const Tensor* t[3] = {&out, &a, &b};
  launch<3>(t, BinaryFn{op}, "binary");
}

void CudaBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  const Tensor* t[4] = {&out, &cond, &a, &b};
  launch<4>(t, WhereFn{}, "where");
}

}  // namespace qtorch::cuda
