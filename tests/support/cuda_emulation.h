// Runs CUDA kernels written in plain C++ on the CPU, so that a machine without a GPU can test
// their indexing, shared memory use, warp reductions and arithmetic: include this before the
// kernel's .cuh, then call cuda_emulation::launch(kernel, grid, block, args...).
// - Each thread of a CUDA block is a fiber (ucontext) on the calling thread, with a stack of
//   its own, and they switch only at barriers: __syncthreads() waits for every thread of the
//   block that has not returned, a warp operation for every lane of the warp that has not.
//   Threads that wait at barriers no other thread can reach (a __syncthreads some threads
//   skip) are an error, where the device would hang or misbehave. (Fibers rather than OS
//   threads: a barrier of 256 OS threads on a two-core machine cost a context switch per
//   thread in the kernel; one of fibers costs a user-space switch.)
// - The blocks of the grid run one after another, so `__shared__` variables (static here) and
//   a kernel's dynamic shared memory (QTORCH_EXTERN_SHARED: one array of the test's) are
//   shared by the threads of the block that runs.
// - Provided: the keywords, dim3, float4, threadIdx/blockIdx/blockDim/gridDim, __syncthreads,
//   __reduce_add_sync and __reduce_max_sync (unsigned), __shfl_xor_sync and __shfl_down_sync
//   (any type of up to 8 bytes) over whole warps, atomicAdd and atomicMin (unsigned long
//   long) and atomicMax (unsigned), __fadd_rn, __fmul_rn and __fdiv_rn, cudaStream_t as a type, and
//   Launch, the CPU's counterpart of cuda::QueuedLaunch (core/cuda/queued_launch.cuh). fmaf,
//   expf and the other math functions are the C library's. Not provided: other shuffles,
//   votes, textures, streams.
// - Kernels get internal linkage here, so that a test's copy never stands in for the
//   library's kernel of the same name.
// - Under AddressSanitizer every switch is announced (__sanitizer_start_switch_fiber), so that
//   it follows the fibers' stacks.
#pragma once

#include <sys/mman.h>
#include <ucontext.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <math.h>  // isnan and the other math functions at global scope, as nvcc has them
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define QTORCH_EMULATION_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QTORCH_EMULATION_ASAN 1
#endif
#endif
#ifdef QTORCH_EMULATION_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

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
inline float __fdiv_rn(float a, float b) { return a / b; }

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

// The running thread's coordinates: set by the scheduler before it resumes a thread.
inline dim3 threadIdx{0, 0, 0};
inline dim3 blockIdx{0, 0, 0};
inline dim3 blockDim;
inline dim3 gridDim;

namespace cuda_emulation {

/// Switches from the running context to `to`, whose stack is [bottom, bottom + size),
/// announced to AddressSanitizer. fake_stack: where the leaving context's fake stack is kept
/// until it runs again (null: it never runs again).
inline void switch_context(ucontext_t* from, const ucontext_t* to, [[maybe_unused]] void** fake_stack,
                           [[maybe_unused]] const void* bottom, [[maybe_unused]] size_t size) {
#ifdef QTORCH_EMULATION_ASAN
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
#endif
  if (swapcontext(from, to) != 0) throw std::runtime_error("cuda_emulation: swapcontext failed");
#ifdef QTORCH_EMULATION_ASAN
  __sanitizer_finish_switch_fiber(fake_stack == nullptr ? nullptr : *fake_stack, nullptr, nullptr);
#endif
}

/// The threads of one block as fibers on the calling thread. Each fiber runs a loop: the
/// block's body, then a switch back to the scheduler until the next block; so its stack (and
/// AddressSanitizer's fake stack) is made once and kept between blocks and launches of the
/// same size. run(body) runs body on every thread to its end; the threads switch only when
/// they wait at a barrier (wait_block, wait_warp).
class FiberBlock {
 public:
  explicit FiberBlock(unsigned size) : fibers_(size) {
    for (Fiber& f : fibers_) {
      void* m = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (m == MAP_FAILED) throw std::runtime_error("cuda_emulation: cannot map a thread's stack");
      f.stack = static_cast<char*>(m);
      mprotect(f.stack, kGuardBytes, PROT_NONE);  // an overflow faults instead of corrupting
      if (getcontext(&f.context) != 0) throw std::runtime_error("cuda_emulation: getcontext failed");
      f.context.uc_stack.ss_sp = f.stack + kGuardBytes;
      f.context.uc_stack.ss_size = kStackBytes - kGuardBytes;
      f.context.uc_link = nullptr;
      makecontext(&f.context, &FiberBlock::entry, 0);
    }
  }
  /// Lets every fiber leave its loop and end (which frees its fake stack), unless a run left
  /// them waiting at barriers.
  ~FiberBlock() {
    if (!stuck_) {
      stopping_ = true;
      current() = this;
      for (unsigned t = 0; t < size(); ++t)
        if (fibers_[t].started) resume(t);
      current() = nullptr;
    }
    for (Fiber& f : fibers_) munmap(f.stack, kStackBytes);
  }
  FiberBlock(const FiberBlock&) = delete;
  FiberBlock& operator=(const FiberBlock&) = delete;

  unsigned size() const { return static_cast<unsigned>(fibers_.size()); }
  /// Whether a run ended with threads waiting at barriers that could not all be passed (the
  /// fibers cannot run again).
  bool stuck() const { return stuck_; }

  /// body() on every thread of a block of shape `block`, each to its end. Throws where the
  /// threads wait at barriers that cannot all be passed.
  void run(const std::function<void()>& body, dim3 block) {
    if (stuck_) throw std::logic_error("cuda_emulation: run on a block whose threads are stuck");
    body_ = &body;
    block_ = block;
    const unsigned n = size();
    warps_.assign((n + 31) / 32, Count{});
    for (unsigned t = 0; t < n; ++t) {
      fibers_[t].state = State::Ready;
      ++warps_[t / 32].live;
    }
    live_ = n;
    at_block_barrier_ = 0;
    current() = this;
    while (live_ > 0) {
      bool resumed = false;
      for (unsigned t = 0; t < n; ++t) {
        if (fibers_[t].state != State::Ready) continue;
        resume(t);
        resumed = true;
      }
      if (!resumed) {
        stuck_ = true;
        throw std::logic_error("cuda_emulation: the block's threads wait at barriers that the others never reach "
                               "(a __syncthreads or warp operation some threads skip)");
      }
    }
    current() = nullptr;
  }

  /// The block whose threads are running (null between blocks).
  static FiberBlock*& current() {
    static FiberBlock* block = nullptr;
    return block;
  }

  /// The running thread waits until every thread of the block that has not returned waits too.
  void wait_block() {
    Fiber& f = fibers_[running_];
    f.state = State::AtBlockBarrier;
    ++at_block_barrier_;
    release_block_if_complete();
    yield(f);
  }
  /// The running thread waits until every lane of its warp that has not returned waits too.
  void wait_warp() {
    Fiber& f = fibers_[running_];
    f.state = State::AtWarpBarrier;
    ++warps_[running_ / 32].waiting;
    release_warp_if_complete(running_ / 32);
    yield(f);
  }

 private:
  static constexpr size_t kStackBytes = size_t{256} << 10;
  static constexpr size_t kGuardBytes = size_t{4} << 10;
  enum class State { Ready, AtBlockBarrier, AtWarpBarrier, Done };
  struct Fiber {
    ucontext_t context;
    char* stack = nullptr;
    State state = State::Done;
    bool started = false;
    void* fake_stack = nullptr;  // AddressSanitizer's fake stack while the fiber is switched out
  };
  struct Count {
    unsigned live = 0, waiting = 0;
  };

  void resume(unsigned t) {
    running_ = t;
    fibers_[t].started = true;
    threadIdx = dim3(t % block_.x, t / block_.x % block_.y, t / (block_.x * block_.y));
    void* fake_stack = nullptr;
    switch_context(&scheduler_, &fibers_[t].context, &fake_stack, fibers_[t].stack + kGuardBytes,
                   kStackBytes - kGuardBytes);
  }
  /// Back to the scheduler; returns when the scheduler resumes this thread.
  void yield(Fiber& f) {
    switch_context(&f.context, &scheduler_, &f.fake_stack, scheduler_bottom_, scheduler_size_);
  }

  void release_block_if_complete() {
    if (at_block_barrier_ == 0 || at_block_barrier_ < live_) return;
    for (Fiber& f : fibers_)
      if (f.state == State::AtBlockBarrier) f.state = State::Ready;
    at_block_barrier_ = 0;
  }
  void release_warp_if_complete(unsigned w) {
    Count& c = warps_[w];
    if (c.waiting == 0 || c.waiting < c.live) return;
    for (unsigned t = w * 32; t < w * 32 + 32 && t < size(); ++t)
      if (fibers_[t].state == State::AtWarpBarrier) fibers_[t].state = State::Ready;
    c.waiting = 0;
  }

  static void entry() {
    FiberBlock& b = *current();
    const unsigned me = b.running_;
    Fiber& f = b.fibers_[me];
#ifdef QTORCH_EMULATION_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &b.scheduler_bottom_, &b.scheduler_size_);
#endif
    while (!b.stopping_) {
      (*b.body_)();  // body catches what the kernel throws
      f.state = State::Done;
      --b.live_;
      --b.warps_[me / 32].live;
      b.release_block_if_complete();
      b.release_warp_if_complete(me / 32);
      b.yield(f);  // until the next block
    }
    switch_context(&f.context, &b.scheduler_, nullptr, b.scheduler_bottom_, b.scheduler_size_);  // the end
  }

  std::vector<Fiber> fibers_;
  std::vector<Count> warps_;
  const std::function<void()>* body_ = nullptr;
  dim3 block_;
  ucontext_t scheduler_;
  const void* scheduler_bottom_ = nullptr;  // the scheduler's stack, as AddressSanitizer reports it
  size_t scheduler_size_ = 0;
  unsigned running_ = 0, live_ = 0, at_block_barrier_ = 0;
  bool stopping_ = false, stuck_ = false;
};

/// The 32 lanes of a warp: a slot per lane for the shuffles and reductions.
struct Warp {
  uint64_t slot[32] = {};
};
inline Warp* warp_of_thread(unsigned t);

/// Every lane of the calling thread's warp calls it with its value; all get op over them.
template <class Op>
unsigned warp_reduce(unsigned value, Op op) {
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  Warp& w = *warp_of_thread(t);
  w.slot[t % 32] = value;
  FiberBlock::current()->wait_warp();
  unsigned r = static_cast<unsigned>(w.slot[0]);
  for (int i = 1; i < 32; ++i) r = op(r, static_cast<unsigned>(w.slot[i]));
  FiberBlock::current()->wait_warp();  // every lane has read before any writes again
  return r;
}

/// Every lane of the calling thread's warp calls it with its value; each gets the value of
/// lane source(its lane).
template <class T, class Source>
T warp_shuffle(T value, Source source) {
  static_assert(sizeof(T) <= sizeof(uint64_t) && std::is_trivially_copyable_v<T>, "one 64-bit slot per lane");
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  Warp& w = *warp_of_thread(t);
  std::memcpy(&w.slot[t % 32], &value, sizeof(T));
  FiberBlock::current()->wait_warp();
  T r;
  std::memcpy(&r, &w.slot[source(t % 32)], sizeof(T));
  FiberBlock::current()->wait_warp();
  return r;
}

/// The warps of the running launch (for the kernels that reduce over them, which need whole
/// warps).
inline std::vector<Warp>& launch_warps() {
  static std::vector<Warp> warps;
  return warps;
}
inline Warp* warp_of_thread(unsigned t) {
  std::vector<Warp>& warps = launch_warps();
  if (t / 32 >= warps.size()) throw std::logic_error("cuda_emulation: a warp operation in a block of partial warps");
  return &warps[t / 32];
}
}  // namespace cuda_emulation

inline void __syncthreads() { cuda_emulation::FiberBlock::current()->wait_block(); }
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

/// The fibers for blocks of `size` threads (kept until a launch asks for another size, or a
/// run leaves them stuck).
inline FiberBlock& block_of(unsigned size) {
  static std::unique_ptr<FiberBlock> block;
  if (!block || block->size() != size || block->stuck()) {
    block.reset();
    block = std::make_unique<FiberBlock>(size);
  }
  return *block;
}

/// kernel<<<grid, block>>>(args...), run to the end. The first exception a thread throws is
/// rethrown here (after every thread has finished the grid). Not reentrant: one launch at a
/// time per process.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, const Args&... args) {
  const unsigned threads = block.x * block.y * block.z;
  launch_warps().assign(threads % 32 == 0 ? threads / 32 : 0, Warp{});
  blockDim = block;
  gridDim = grid;
  std::exception_ptr failure;
  const std::function<void()> body = [&] {
    try {
      kernel(static_cast<Params>(args)...);
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  };
  FiberBlock& fibers = block_of(threads);
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        blockIdx = dim3(x, y, z);
        fibers.run(body, block);
      }
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
