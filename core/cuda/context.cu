// Per-device streams and cuBLAS handles, created lazily and kept for the process lifetime,
// and the functions that turn CUDA/cuBLAS statuses into qtorch::Error.
#include "qtorch/core/cuda/context.h"

#include <array>
#include <atomic>
#include <mutex>

#include "qtorch/core/cuda/cublas_api.h"
#include "qtorch/core/cuda/host_waits.h"
#include "qtorch/core/device.h"

namespace qtorch::cuda {

void throw_cuda_error(cudaError_t status, const char* expr, const char* file, int line) {
  throw Error(fmt::format("CUDA error {} ({}): {} at {}:{}", cudaGetErrorName(status),
                          cudaGetErrorString(status), expr, file, line));
}

void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file, int line) {
  const CublasApi& api = cublas_api();
  throw Error(fmt::format("cuBLAS error {} ({}): {} at {}:{}", api.status_name(status),
                          api.status_string(status), expr, file, line));
}

namespace {

constexpr int kMaxDevices = 64;

struct DeviceState {
  std::once_flag once;
  std::atomic<bool> ready{false};
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  int sm_count = 0;
};

// Leaked on purpose: tensors in static objects may still free memory at exit, after
// function-local statics would have been destroyed.
std::array<DeviceState, kMaxDevices>& states() {
  static auto* s = new std::array<DeviceState, kMaxDevices>();
  return *s;
}

DeviceState& state(int device) {
  QTORCH_CHECK(device >= 0 && device < device_count_nothrow() && device < kMaxDevices,
               "cuda: expected a device index in [0, {}), got {}", device_count_nothrow(), device);
  DeviceState& s = states()[device];
  std::call_once(s.once, [&] {
    int previous = 0;
    QTORCH_CUDA_CHECK(cudaGetDevice(&previous));
    QTORCH_CUDA_CHECK(cudaSetDevice(device));
    QTORCH_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    QTORCH_CUBLAS_CHECK(cublas_api().create(&s.cublas));
    QTORCH_CUBLAS_CHECK(cublas_api().set_stream(s.cublas, s.stream));
    QTORCH_CUDA_CHECK(cudaDeviceGetAttribute(&s.sm_count, cudaDevAttrMultiProcessorCount, device));
    QTORCH_CUDA_CHECK(cudaSetDevice(previous));
    s.ready = true;
  });
  return s;
}

struct DeviceProbe {
  int count = 0;
  cudaError_t error = cudaSuccess;
};
const DeviceProbe& device_probe() {
  static const DeviceProbe probe = [] {
    DeviceProbe p;
    p.error = cudaGetDeviceCount(&p.count);
    if (p.error != cudaSuccess) {
      cudaGetLastError();  // clear the error so later calls do not see it
      p.count = 0;
    }
    return p;
  }();
  return probe;
}

}  // namespace

int device_count_nothrow() { return device_probe().count; }

int current_device() {
  int d = 0;
  QTORCH_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

cudaStream_t stream(int device) { return state(device).stream; }
cudaStream_t stream_if_created(int device) {
  if (device < 0 || device >= kMaxDevices) return nullptr;
  DeviceState& s = states()[device];
  return s.ready ? s.stream : nullptr;
}
cublasHandle_t cublas(int device) { return state(device).cublas; }
int sm_count(int device) { return state(device).sm_count; }

namespace {
std::atomic<int64_t> g_host_waits{0};
}  // namespace

void wait_for_stream(cudaStream_t s) {
  g_host_waits.fetch_add(1, std::memory_order_relaxed);
  QTORCH_CUDA_CHECK(cudaStreamSynchronize(s));
}

int64_t host_waits() { return g_host_waits.load(std::memory_order_relaxed); }

int device_of_pointer(const void* ptr) {
  cudaPointerAttributes attr{};
  QTORCH_CUDA_CHECK(cudaPointerGetAttributes(&attr, ptr));
  QTORCH_CHECK(attr.type == cudaMemoryTypeDevice,
               "cuda: expected a device pointer, got a pointer of memory type {}",
               static_cast<int>(attr.type));
  return attr.device;
}

int DeviceGuard::index_of(const Tensor& t) {
  QTORCH_CHECK(t.defined() && t.device().is_cuda(), "cuda backend: expected a CUDA tensor, got {}",
               t.defined() ? t.device().str() : std::string("an undefined tensor"));
  return t.device().index;
}

DeviceGuard::DeviceGuard(int device) : device_(device) {
  stream_ = cuda::stream(device);  // validates the index
  previous_ = current_device();
  if (previous_ != device) QTORCH_CUDA_CHECK(cudaSetDevice(device));
}

DeviceGuard::~DeviceGuard() {
  if (previous_ != device_) cudaSetDevice(previous_);  // a destructor must not throw
}

}  // namespace qtorch::cuda

bool qtorch::cuda_is_available() { return qtorch::cuda::device_count_nothrow() > 0; }

std::string qtorch::cuda_unavailable_reason() {
  const cudaError_t e = qtorch::cuda::device_probe().error;
  if (qtorch::cuda::device_count_nothrow() > 0) return "";
  if (e == cudaSuccess || e == cudaErrorNoDevice) return "no CUDA GPU is visible";
  std::string reason = fmt::format("no usable CUDA GPU: the CUDA runtime says \"{}\" ({})", cudaGetErrorString(e),
                                   cudaGetErrorName(e));
  if (e == cudaErrorInsufficientDriver)
    reason += fmt::format(": no NVIDIA driver is loaded, or it is older than CUDA {}.{} needs", CUDART_VERSION / 1000,
                          CUDART_VERSION % 1000 / 10);
  return reason;
}
