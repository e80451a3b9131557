// The asynchronous index check (see index_check.h).
#include "qtorch/core/cuda/index_check.h"

#include <array>
#include <cstring>
#include <mutex>

#include "qtorch/core/cuda/context.h"

namespace qtorch::cuda {
namespace {

constexpr unsigned long long kNone = ~0ULL;

/// One thread: moves a recorded bad row to the host record (keeping the first one the
/// host has not seen yet) and re-arms the device record.
__global__ void record_kernel(unsigned long long* device_row, unsigned long long* host,
                              const float* index, long long cols) {
  unsigned long long row = *device_row;
  if (row == kNone) return;
  if (*reinterpret_cast<volatile unsigned long long*>(host) == kNone) {
    host[1] = __float_as_uint(index[row]);
    host[2] = static_cast<unsigned long long>(cols);
    __threadfence_system();
    *reinterpret_cast<volatile unsigned long long*>(host) = row;
  }
  *device_row = kNone;
}

struct Slots {
  std::mutex mutex;
  std::array<IndexErrorSlot*, 64> slots{};
};

Slots& slots() {
  static auto* s = new Slots();  // leaked: see context.cu
  return *s;
}

}  // namespace

IndexErrorSlot& index_error_slot(int device) {
  Slots& s = slots();
  std::lock_guard<std::mutex> lock(s.mutex);
  QTORCH_CHECK(device >= 0 && device < 64, "cuda: device index {} out of range", device);
  if (s.slots[device] == nullptr) {
    DeviceGuard guard(device);
    auto* slot = new IndexErrorSlot();
    void* host = nullptr;
    QTORCH_CUDA_CHECK(cudaHostAlloc(&host, 3 * sizeof(unsigned long long), cudaHostAllocMapped));
    std::memset(host, 0xff, 3 * sizeof(unsigned long long));
    slot->host = static_cast<volatile unsigned long long*>(host);
    void* on_device = nullptr;
    QTORCH_CUDA_CHECK(cudaHostGetDevicePointer(&on_device, host, 0));
    slot->host_on_device = static_cast<unsigned long long*>(on_device);
    QTORCH_CUDA_CHECK(cudaMalloc(&slot->device_row, sizeof(unsigned long long)));
    QTORCH_CUDA_CHECK(cudaMemset(slot->device_row, 0xff, sizeof(unsigned long long)));
    QTORCH_CUDA_CHECK(cudaDeviceSynchronize());  // the memset must land before first use
    s.slots[device] = slot;
  }
  return *s.slots[device];
}

void record_index_error(int device, cudaStream_t stream, const float* index, int64_t cols) {
  IndexErrorSlot& slot = index_error_slot(device);
  record_kernel<<<1, 1, 0, stream>>>(slot.device_row, slot.host_on_device, index,
                                     static_cast<long long>(cols));
  QTORCH_CUDA_CHECK_LAUNCH();
}

void raise_pending_index_error(int device) {
  Slots& s = slots();
  IndexErrorSlot* slot;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (device < 0 || device >= 64 || s.slots[device] == nullptr) return;
    slot = s.slots[device];
  }
  unsigned long long row = slot->host[0];
  if (row == kNone) return;
  uint32_t bits = static_cast<uint32_t>(slot->host[1]);
  long long cols = static_cast<long long>(slot->host[2]);
  float value;
  std::memcpy(&value, &bits, sizeof value);
  slot->host[0] = kNone;
  QTORCH_FAIL("gather_rows: expected class indices in [0, {}), got {} (row {}; found by an earlier "
              "asynchronous CUDA call)",
              cols, value, row);
}

}  // namespace qtorch::cuda
