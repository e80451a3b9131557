// The caching device allocator: cudaMalloc'd blocks are kept in size buckets when freed
// and handed out again, so training steps do not call cudaMalloc/cudaFree (which
// synchronise the device). Safe because each device has one stream: a block freed after
// queuing work on that stream is reused only by work queued after it, on the same stream.
// This header has no CUDA types: tests and benchmarks may include it (core/nocuda/ has
// definitions that report an empty allocator in builds without CUDA).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>

namespace qtorch::cuda {

/// Usage counters of one device, in bytes.
struct MemoryStats {
  int64_t allocated = 0;       // handed out to callers (bucket sizes)
  int64_t reserved = 0;        // held from cudaMalloc (allocated + cached)
  int64_t peak_allocated = 0;
  int64_t cuda_mallocs = 0;    // number of cudaMalloc calls so far
};

/// Bucket size for a request: multiples of 512 bytes up to 4 KiB, then four buckets per
/// power of two (at most 25% waste).
inline size_t bucket_size(size_t bytes) {
  constexpr size_t kSmall = 512;
  if (bytes <= 4096) return (bytes + kSmall - 1) / kSmall * kSmall;
  size_t step = std::bit_floor(bytes) / 4;  // a quarter of the power of two below
  return (bytes + step - 1) / step * step;
}

/// Device memory of `bytes` on `device` (null for 0 bytes). Frees the cache and retries
/// once when cudaMalloc runs out of memory; throws qtorch::Error if it still fails.
void* device_alloc(size_t bytes, int device);
/// Returns a block to its device's cache; null is ignored.
void device_free(void* ptr);
/// cudaFree of every cached (unused) block on every device.
void empty_cache();
MemoryStats memory_stats(int device);

}  // namespace qtorch::cuda
