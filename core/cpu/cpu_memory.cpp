// CPU memory: 64-byte aligned blocks, with freed medium-sized blocks kept for reuse, and
// the registration of the CPU backend.
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "qtorch/core/cpu/cpu_backend.h"

namespace qtorch::cpu {
namespace {

// Training allocates the same shapes every step, so freed blocks up to kMaxCached are kept by
// exact size and handed out again. Blocks from 64 KiB come from mmap and would cost a page
// fault per 4 KiB on every reuse (a third of LeNet's epoch); they are rounded to whole pages.
// Smaller ones would cost glibc's memalign and free each time (with free-list consolidation:
// in perf of a small model's step, the allocator's own functions). Huge blocks are rare and amortise their faults over their
// work; they go back to the system.
constexpr std::size_t kPageRounded = std::size_t{64} << 10;
constexpr std::size_t kMaxCached = std::size_t{32} << 20;
constexpr std::size_t kCacheLimit = std::size_t{512} << 20;  // bytes held idle at most
constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kHugeMin = kMaxCached + 1;

class BlockCache {
 public:
  void* take(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(bytes);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    idle_bytes_ -= bytes;
    return p;
  }
  void remember_size(void* p, std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    size_of_[p] = bytes;
  }
  /// Keeps a cacheable block for reuse; false when p is not one or the cache is full,
  /// and then the caller frees it.
  bool keep(void* p) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = size_of_.find(p);
    if (it == size_of_.end()) return false;
    const std::size_t bytes = it->second;
    if (idle_bytes_ + bytes > kCacheLimit) {
      size_of_.erase(it);
      return false;
    }
    free_[bytes].push_back(p);
    idle_bytes_ += bytes;
    return true;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::unordered_map<void*, std::size_t> size_of_;  // every cacheable block handed out
  std::size_t idle_bytes_ = 0;
};

BlockCache& cache() {
  static BlockCache* c = new BlockCache();  // never destroyed: tensors may outlive statics
  return *c;
}

bool cacheable(std::size_t bytes) { return bytes <= kMaxCached; }

}  // namespace

float* CpuBackend::allocate(int64_t numel, Device) {
  std::size_t bytes = (static_cast<std::size_t>(numel) * sizeof(float) + 63) / 64 * 64;
  if (cacheable(bytes)) {
    if (bytes >= kPageRounded) bytes = (bytes + 4095) / 4096 * 4096;  // more reuse between near sizes
    if (void* p = cache().take(bytes)) return static_cast<float*>(p);
  }
  if (bytes >= kHugeMin) {
    // Transparent huge pages: one fault per 2 MiB instead of per 4 KiB (a fresh 64 MiB
    // block is otherwise 16k faults, more time than a pass over it).
    bytes = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* p = std::aligned_alloc(kHugePage, bytes);
    if (p == nullptr) throw std::bad_alloc();
    madvise(p, bytes, MADV_HUGEPAGE);  // advice only: ignore where THP is off
    return static_cast<float*>(p);
  }
  void* p = std::aligned_alloc(64, bytes);
  if (p == nullptr) throw std::bad_alloc();
  if (cacheable(bytes)) cache().remember_size(p, bytes);
  return static_cast<float*>(p);
}

void CpuBackend::deallocate(float* ptr) {
  if (!cache().keep(ptr)) std::free(ptr);
}

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
