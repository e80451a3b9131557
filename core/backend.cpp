// The registry that maps a device type to its backend.
#include "qtorch/core/backend.h"

#include "qtorch/core/error.h"

namespace qtorch {
namespace {
Backend*& slot(DeviceType type) {
  static Backend* backends[2] = {nullptr, nullptr};
  return backends[static_cast<int>(type)];
}
}  // namespace

void register_backend(DeviceType type, Backend* backend) { slot(type) = backend; }

Backend& backend_for(Device device) {
  Backend* b = slot(device.type);
  QTORCH_CHECK(b != nullptr, "device {}: qtorch was built without CUDA support (configure with "
               "-DQTORCH_CUDA=ON on a machine with the CUDA Toolkit)", device.str());
  if (device.is_cuda()) {
    QTORCH_CHECK(cuda_is_available(), "device {}: {}", device.str(), cuda_unavailable_reason());
  }
  return *b;
}

void check_gemm_extents(const GemmArgs& g, const char* op) {
  constexpr int64_t kIntLimit = int64_t{1} << 31;
  QTORCH_CHECK(g.n < kIntLimit && g.k < kIntLimit && g.lda < kIntLimit && g.ldb < kIntLimit && g.ldc < kIntLimit,
               "{}: expected a matrix product whose N, K and row strides are below 2^31 (BLAS takes int), "
               "got [M={}, K={}] x [K, N={}] with row strides {}, {} and {}",
               op, g.m, g.k, g.n, g.lda, g.ldb, g.ldc);
}

}  // namespace qtorch

namespace qtorch {
// Backends without direct convolution say so through conv2d_direct_supported(); ops never call
// these then, so reaching one is a bug in the caller.
void Backend::conv2d_direct(const Tensor&, const Tensor&, const Tensor&, const Window2d&, const Tensor&) {
  QTORCH_FAIL("conv2d: this device has no direct convolution kernel");
}
void Backend::conv2d_direct_backward_input(const Tensor&, const Tensor&, const Window2d&, const Tensor&) {
  QTORCH_FAIL("conv2d backward: this device has no direct convolution kernel");
}
void Backend::conv2d_direct_backward_weight(const Tensor&, const Tensor&, const Window2d&, const Tensor&) {
  QTORCH_FAIL("conv2d backward: this device has no direct convolution kernel");
}
}  // namespace qtorch
