// CPU memory (64-byte aligned blocks) and the registration of the CPU backend.
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/cpu/cpu_backend.h"

namespace qtorch::cpu {

float* CpuBackend::allocate(int64_t numel) {
  std::size_t bytes = (static_cast<std::size_t>(numel) * sizeof(float) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<float*>(p);
}

void CpuBackend::deallocate(float* ptr) { std::free(ptr); }

void CpuBackend::copy_from_host(const float* host, float* dst, int64_t numel) {
  std::memcpy(dst, host, static_cast<std::size_t>(numel) * sizeof(float));
}

void CpuBackend::copy_to_host(const float* src, float* host, int64_t numel) {
  std::memcpy(host, src, static_cast<std::size_t>(numel) * sizeof(float));
}

namespace {
CpuBackend& instance() {
  static CpuBackend backend;
  return backend;
}
const bool registered = [] {
  register_backend(DeviceType::CPU, &instance());
  return true;
}();
}  // namespace

}  // namespace qtorch::cpu
