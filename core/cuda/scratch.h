// Device scratch memory for kernels' partial results, taken from the caching allocator and
// returned when the owning scope ends. Returning it once the launches that use it are
// queued is safe: each device has one stream, so any later reuse is ordered after them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "qtorch/core/cuda/allocator.h"

namespace qtorch::cuda {

template <class T>
struct Scratch {
  T* p;
  Scratch(int64_t count, int device)
      : p(static_cast<T*>(device_alloc(static_cast<size_t>(count) * sizeof(T), device))) {}
  ~Scratch() { device_free(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

}  // namespace qtorch::cuda
