// Runs CUDA kernels written in plain C++ on the CPU, so that a machine without a GPU can test
// their indexing, shared memory use, warp reductions and arithmetic: include this before the
// kernel's .cuh, then call cuda_emulation::launch(kernel, grid, block, args...). Each thread of
// a CUDA block is an OS thread; __syncthreads() is a barrier across them, a warp reduction
// one across the warp's 32; the blocks of the grid run one after another, so `__shared__`
// variables (static here) and a kernel's `extern __shared__` array (one array of the test's)
// are shared by the threads of the block that runs.
// Provided: the keywords, dim3, float4, threadIdx/blockIdx/blockDim/gridDim, __syncthreads,
// __reduce_add_sync and __reduce_max_sync over whole warps, atomicAdd on unsigned long long,
// __fadd_rn, and cudaStream_t as a type. fmaf is the C library's fused
// multiply-add, as on the device. Not provided: shuffles, votes, textures, streams.
#pragma once

#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <exception>
#include <memory>
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
#define __shared__ static
#define QTORCH_EXTERN_SHARED extern
#define __launch_bounds__(...)

struct CUstream_st;
using cudaStream_t = CUstream_st*;

struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float __fadd_rn(float a, float b) { return a + b; }

inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long value) {
  return std::atomic_ref<unsigned long long>(*address).fetch_add(value);
}

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

/// The 32 lanes of a warp: a barrier and a slot per lane for the reductions.
struct Warp {
  std::barrier<> barrier{32};
  unsigned slot[32] = {};
};
inline thread_local Warp* this_warp = nullptr;

/// Every lane of the calling thread's warp calls it with its value; all get op over them.
template <class Op>
unsigned warp_reduce(unsigned value, Op op) {
  Warp& w = *this_warp;
  const unsigned lane = threadIdx.x % 32;
  w.slot[lane] = value;
  w.barrier.arrive_and_wait();
  unsigned r = w.slot[0];
  for (int i = 1; i < 32; ++i) r = op(r, w.slot[i]);
  w.barrier.arrive_and_wait();  // every lane has read before any writes again
  return r;
}
}  // namespace cuda_emulation

inline void __syncthreads() { cuda_emulation::block_barrier()->arrive_and_wait(); }
inline unsigned __reduce_add_sync(unsigned /*mask: whole warps only*/, unsigned value) {
  return cuda_emulation::warp_reduce(value, [](unsigned a, unsigned b) { return a + b; });
}
inline unsigned __reduce_max_sync(unsigned /*mask: whole warps only*/, unsigned value) {
  return cuda_emulation::warp_reduce(value, [](unsigned a, unsigned b) { return a > b ? a : b; });
}

namespace cuda_emulation {

/// kernel<<<grid, block>>>(args...), run to the end. The first exception a thread throws is
/// rethrown here (after every thread has finished the grid).
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, const Args&... args) {
  const unsigned threads = block.x * block.y * block.z;
  std::barrier<> barrier(static_cast<std::ptrdiff_t>(threads));
  // Warps for the kernels that reduce over them (which need whole warps).
  std::vector<std::unique_ptr<Warp>> warps;
  if (threads % 32 == 0)
    for (unsigned w = 0; w < threads / 32; ++w) warps.push_back(std::make_unique<Warp>());
  block_barrier() = &barrier;
  std::exception_ptr failure;
  std::mutex failure_mutex;
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      threadIdx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
      this_warp = warps.empty() ? nullptr : warps[t / 32].get();
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
