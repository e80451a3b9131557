// Runs CUDA kernels written in plain C++ on the CPU, so that a machine without a GPU can test
// their indexing, shared memory use, warp reductions and arithmetic: include this before the
// kernel's .cuh, then call cuda_emulation::launch(kernel, grid, block, args...).
// - Each thread of a CUDA block is an OS thread (a team kept between launches);
//   __syncthreads() is a barrier across them, a warp operation one across the warp's 32.
// - The blocks of the grid run one after another, so `__shared__` variables (static here) and
//   a kernel's dynamic shared memory (QTORCH_EXTERN_SHARED: one array of the test's) are
//   shared by the threads of the block that runs.
// - Provided: the keywords, dim3, float4, threadIdx/blockIdx/blockDim/gridDim, __syncthreads,
//   __reduce_add_sync and __reduce_max_sync (unsigned), __shfl_xor_sync and __shfl_down_sync
//   (any type of up to 8 bytes) over whole warps, atomicAdd and atomicMin (unsigned long
//   long) and atomicMax (unsigned), __fadd_rn and __fmul_rn, cudaStream_t as a type, and
//   Launch, the CPU's counterpart of cuda::QueuedLaunch (core/cuda/queued_launch.cuh). fmaf,
//   expf and the other math functions are the C library's. Not provided: other shuffles,
//   votes, textures, streams.
// - Kernels get internal linkage here, so that a test's copy never stands in for the
//   library's kernel of the same name.
#pragma once

#include <atomic>
#include <barrier>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <math.h>  // isnan and the other math functions at global scope, as nvcc has them
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <vector>

#ifdef __CUDACC__
#error "tests/support/cuda_emulation.h is for host compilers: nvcc has the real CUDA"
#endif

#define __global__ static  // internal linkage: never the library's kernel of the same name
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
// One rounding each, never contracted into an FMA with what surrounds them (a volatile
// store rounds to float32), as on the device.
inline float __fadd_rn(float a, float b) {
  volatile float r = a + b;
  return r;
}
inline float __fmul_rn(float a, float b) {
  volatile float r = a * b;
  return r;
}

inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long value) {
  return std::atomic_ref<unsigned long long>(*address).fetch_add(value);
}
inline unsigned long long atomicMin(unsigned long long* address, unsigned long long value) {
  std::atomic_ref<unsigned long long> a(*address);
  unsigned long long old = a.load();
  while (old > value && !a.compare_exchange_weak(old, value)) {
  }
  return old;
}
inline unsigned atomicMax(unsigned* address, unsigned value) {
  std::atomic_ref<unsigned> a(*address);
  unsigned old = a.load();
  while (old < value && !a.compare_exchange_weak(old, value)) {
  }
  return old;
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

/// The 32 lanes of a warp: a barrier and a slot per lane for the shuffles and reductions.
struct Warp {
  std::barrier<> barrier{32};
  uint64_t slot[32] = {};
};
inline thread_local Warp* this_warp = nullptr;

/// Every lane of the calling thread's warp calls it with its value; all get op over them.
template <class Op>
unsigned warp_reduce(unsigned value, Op op) {
  Warp& w = *this_warp;
  const unsigned lane = threadIdx.x % 32;
  w.slot[lane] = value;
  w.barrier.arrive_and_wait();
  unsigned r = static_cast<unsigned>(w.slot[0]);
  for (int i = 1; i < 32; ++i) r = op(r, static_cast<unsigned>(w.slot[i]));
  w.barrier.arrive_and_wait();  // every lane has read before any writes again
  return r;
}

/// Every lane of the calling thread's warp calls it with its value; each gets the value of
/// lane source(its lane).
template <class T, class Source>
T warp_shuffle(T value, Source source) {
  static_assert(sizeof(T) <= sizeof(uint64_t) && std::is_trivially_copyable_v<T>, "one 64-bit slot per lane");
  Warp& w = *this_warp;
  const unsigned lane = threadIdx.x % 32;
  std::memcpy(&w.slot[lane], &value, sizeof(T));
  w.barrier.arrive_and_wait();
  T r;
  std::memcpy(&r, &w.slot[source(lane)], sizeof(T));
  w.barrier.arrive_and_wait();
  return r;
}
}  // namespace cuda_emulation

inline void __syncthreads() { cuda_emulation::block_barrier()->arrive_and_wait(); }
template <class T>
T __shfl_xor_sync(unsigned /*mask: whole warps only*/, T value, int lane_mask) {
  return cuda_emulation::warp_shuffle(value, [lane_mask](unsigned lane) { return lane ^ static_cast<unsigned>(lane_mask); });
}
/// Lanes whose source would be past the warp's end keep their own value, as on the device.
template <class T>
T __shfl_down_sync(unsigned /*mask: whole warps only*/, T value, unsigned delta) {
  return cuda_emulation::warp_shuffle(value, [delta](unsigned lane) { return lane + delta < 32 ? lane + delta : lane; });
}
inline unsigned __reduce_add_sync(unsigned /*mask: whole warps only*/, unsigned value) {
  return cuda_emulation::warp_reduce(value, [](unsigned a, unsigned b) { return a + b; });
}
inline unsigned __reduce_max_sync(unsigned /*mask: whole warps only*/, unsigned value) {
  return cuda_emulation::warp_reduce(value, [](unsigned a, unsigned b) { return a > b ? a : b; });
}

namespace cuda_emulation {

/// `size` threads kept between launches (making 256 OS threads per launch costs more than
/// most test kernels): run(job) calls job(t) on thread t for every t and returns when all
/// have returned.
class Team {
 public:
  explicit Team(unsigned size) : size_(size) {
    for (unsigned t = 0; t < size; ++t) threads_.emplace_back([this, t] { serve(t); });
  }
  ~Team() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      ++generation_;
    }
    start_.notify_all();
    for (std::thread& t : threads_) t.join();
  }
  unsigned size() const { return size_; }
  void run(const std::function<void(unsigned)>& job) {
    std::unique_lock<std::mutex> lock(mutex_);
    job_ = &job;
    running_ = size_;
    ++generation_;
    start_.notify_all();
    done_.wait(lock, [this] { return running_ == 0; });
    job_ = nullptr;
  }

 private:
  void serve(unsigned t) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      start_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (stop_) return;
      const std::function<void(unsigned)>* job = job_;
      lock.unlock();
      (*job)(t);
      lock.lock();
      if (--running_ == 0) done_.notify_one();
    }
  }

  unsigned size_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  const std::function<void(unsigned)>* job_ = nullptr;
  unsigned running_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

/// The team for blocks of `size` threads (kept until a launch asks for another size).
inline Team& team_of(unsigned size) {
  static std::unique_ptr<Team> team;
  if (!team || team->size() != size) {
    team.reset();
    team = std::make_unique<Team>(size);
  }
  return *team;
}

/// kernel<<<grid, block>>>(args...), run to the end. The first exception a thread throws is
/// rethrown here (after every thread has finished the grid). Not reentrant: one launch at a
/// time per process.
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
  team_of(threads).run([&](unsigned t) {
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
  block_barrier() = nullptr;
  if (failure) std::rethrow_exception(failure);
}

/// launch(kernel, grid, threads, args...) on the CPU: the same call as cuda::QueuedLaunch.
/// Dynamic shared memory is the test's own array (with_shared only checks its size).
struct Launch {
  size_t shared_capacity = 0;  // bytes of the test's array; with_shared checks against it
  Launch with_shared(size_t bytes) const {
    if (bytes > shared_capacity) throw std::runtime_error("cuda_emulation: the test's shared memory is too small");
    return *this;
  }

  template <class... Params, class... Args>
  void operator()(void (*kernel)(Params...), dim3 grid, dim3 threads, const Args&... args) const {
    launch(kernel, grid, threads, args...);
  }
};

}  // namespace cuda_emulation
