// Runs CUDA kernels written in plain C++ (no warp intrinsics, atomics or textures) on the CPU,
// so that a machine without a GPU can test their indexing, shared memory use and arithmetic:
// include this before the kernel's .cuh, then call cuda_emulation::launch(kernel, grid, block,
// args...). Each thread of a CUDA block is an OS thread; __syncthreads() is a barrier across
// them; the blocks of the grid run one after another, so a kernel's `extern __shared__`
// array can be one array of the test's, shared by the threads of the block that runs.
// fmaf is the C library's fused multiply-add, as on the device.
#pragma once

#include <barrier>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#ifdef __CUDACC__
#error "tests/support/cuda_emulation.h is for host compilers: nvcc has the real CUDA"
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline thread_local dim3 threadIdx{0, 0, 0};
inline thread_local dim3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

namespace cuda_emulation {
inline std::barrier<>*& block_barrier() {
  static std::barrier<>* barrier = nullptr;
  return barrier;
}
}  // namespace cuda_emulation

inline void __syncthreads() { cuda_emulation::block_barrier()->arrive_and_wait(); }

namespace cuda_emulation {

/// kernel<<<grid, block>>>(args...), run to the end. The first exception a thread throws is
/// rethrown here (after every thread has finished the grid).
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, const Args&... args) {
  const unsigned threads = block.x * block.y * block.z;
  std::barrier<> barrier(static_cast<std::ptrdiff_t>(threads));
  block_barrier() = &barrier;
  std::exception_ptr failure;
  std::mutex failure_mutex;
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      threadIdx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
      blockDim = block;
      gridDim = grid;
      for (unsigned z = 0; z < grid.z; ++z)
        for (unsigned y = 0; y < grid.y; ++y)
          for (unsigned x = 0; x < grid.x; ++x) {
            blockIdx = dim3(x, y, z);
            try {
              kernel(static_cast<Params>(args)...);
            } catch (...) {
              std::lock_guard<std::mutex> lock(failure_mutex);
              if (!failure) failure = std::current_exception();
            }
            barrier.arrive_and_wait();  // the next block starts once this one is done
          }
    });
  }
  for (std::thread& w : workers) w.join();
  block_barrier() = nullptr;
  if (failure) std::rethrow_exception(failure);
}

}  // namespace cuda_emulation
