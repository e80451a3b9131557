// A kernel launch queued on a stream, as a callable: launch(kernel, grid, threads, args...).
// Host code in kernel headers that tests also run on the CPU takes its launch as a parameter;
// the library passes this one, the tests the CPU's (tests/support/cuda_emulation.h).
#pragma once

#include "qtorch/core/cuda/cuda_check.h"

#include <cstddef>

namespace qtorch::cuda {

struct QueuedLaunch {
  cudaStream_t stream;
  size_t shared = 0;  // bytes of dynamic shared memory per CUDA block

  /// The same launch with `bytes` of dynamic shared memory.
  QueuedLaunch with_shared(size_t bytes) const { return {stream, bytes}; }

  template <class... Params, class... Args>
  void operator()(void (*kernel)(Params...), dim3 grid, dim3 threads, const Args&... args) const {
    kernel<<<grid, threads, shared, stream>>>(static_cast<Params>(args)...);
    QTORCH_CUDA_CHECK_LAUNCH();
  }
};

}  // namespace qtorch::cuda
