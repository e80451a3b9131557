// The caching device allocator (see allocator.h).
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/allocator.h"

#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "qtorch/core/cuda/context.h"

namespace qtorch::cuda {
namespace {

struct Block {
  size_t size;
  int device;
};

class CachingAllocator {
 public:
  void* allocate(size_t bytes, int device) {
    if (bytes == 0) return nullptr;
    size_t size = bucket_size(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& free_list = cache_[{device, size}];
      if (!free_list.empty()) {
        void* p = free_list.back();
        free_list.pop_back();
        note_alloc(device, size, p);
        return p;
      }
    }
    void* p = nullptr;
    {
      DeviceGuard guard(device);
      cudaError_t status = cudaMalloc(&p, size);
      if (status == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        release_cached();
        status = cudaMalloc(&p, size);
      }
      if (status != cudaSuccess) {
        cudaGetLastError();
        MemoryStats s = memory_stats(device);
        throw Error(fmt::format(
            "cuda: out of memory allocating {} bytes on cuda:{} ({} bytes in use, {} reserved): {}",
            size, device, s.allocated, s.reserved, cudaGetErrorString(status)));
      }
    }
    std::lock_guard<std::mutex> lock(mutex_);
    stats_[device].reserved += static_cast<int64_t>(size);
    stats_[device].cuda_mallocs += 1;
    note_alloc(device, size, p);
    return p;
  }

  void free(void* p) {
    if (p == nullptr) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(p);
    QTORCH_CHECK(it != live_.end(), "cuda: free of a pointer the allocator did not hand out");
    Block b = it->second;
    live_.erase(it);
    stats_[b.device].allocated -= static_cast<int64_t>(b.size);
    cache_[{b.device, b.size}].push_back(p);
  }

  void release_cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [key, list] : cache_) {
      if (list.empty()) continue;
      DeviceGuard guard(key.first);
      for (void* p : list) {
        QTORCH_CUDA_CHECK(cudaFree(p));
        stats_[key.first].reserved -= static_cast<int64_t>(key.second);
      }
      list.clear();
    }
  }

  MemoryStats stats(int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_[device];
  }

 private:
  void note_alloc(int device, size_t size, void* p) {
    live_.emplace(p, Block{size, device});
    MemoryStats& s = stats_[device];
    s.allocated += static_cast<int64_t>(size);
    if (s.allocated > s.peak_allocated) s.peak_allocated = s.allocated;
  }

  std::mutex mutex_;
  std::map<std::pair<int, size_t>, std::vector<void*>> cache_;
  std::unordered_map<void*, Block> live_;
  std::map<int, MemoryStats> stats_;
};

// Leaked on purpose: storages freed during static destruction still find it, and the
// driver may already be shut down at exit, so cached blocks are never cudaFree'd then.
CachingAllocator& allocator() {
  static auto* a = new CachingAllocator();
  return *a;
}

}  // namespace

void* device_alloc(size_t bytes, int device) { return allocator().allocate(bytes, device); }
void device_free(void* ptr) { allocator().free(ptr); }
void empty_cache() {
  if (device_count_nothrow() > 0) allocator().release_cached();
}
MemoryStats memory_stats(int device) { return allocator().stats(device); }

}  // namespace qtorch::cuda
