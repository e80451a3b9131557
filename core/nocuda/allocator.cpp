// The device allocator's entry points in a build without CUDA: nothing is ever cached.
#include "qtorch/core/cuda/allocator.h"

#include "qtorch/core/error.h"

namespace qtorch::cuda {

void* device_alloc(size_t bytes, int device) {
  QTORCH_FAIL("cuda: this build of qtorch has no CUDA support (asked for {} bytes on cuda:{})",
              bytes, device);
}
void device_free(void*) {}
void empty_cache() {}
MemoryStats memory_stats(int) { return {}; }

}  // namespace qtorch::cuda
