// tests/support/cuda_emulation.h itself: __syncthreads orders the block's shared memory, the
// warp operations give each lane what the device would, threads that return early do not hold
// the others at a barrier, barriers that cannot all be passed are an error, and a kernel's
// exception reaches the caller. Expected values by hand.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "support/cuda_emulation.h"

namespace {

constexpr unsigned kThreads = 128;

// Each thread writes its slot, waits, then reads its neighbour's: without the barrier a
// thread could read a slot not yet written (-1).
__global__ void rotate_through_shared(const int* in, int* out) {
  __shared__ int slots[kThreads];
  const unsigned t = threadIdx.x, base = blockIdx.x * blockDim.x;
  slots[t] = -1;
  __syncthreads();
  slots[t] = in[base + t];
  __syncthreads();
  out[base + t] = slots[(t + 1) % blockDim.x];
}

TEST(CudaEmulation, SyncthreadsOrdersSharedMemoryInEveryBlock) {
  const unsigned blocks = 3;
  std::vector<int> in(blocks * kThreads), out(in.size(), 0);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<int>(1000 + i);
  cuda_emulation::launch(rotate_through_shared, dim3(blocks), dim3(kThreads), in.data(), out.data());
  for (unsigned b = 0; b < blocks; ++b)
    for (unsigned t = 0; t < kThreads; ++t)
      EXPECT_EQ(out[b * kThreads + t], static_cast<int>(1000 + b * kThreads + (t + 1) % kThreads)) << b << ", " << t;
}

__global__ void warp_operations(unsigned* out) {
  const unsigned t = threadIdx.x + blockDim.x * threadIdx.y;  // a block of 32 x 2: two warps
  const unsigned lane = t % 32;
  out[4 * t + 0] = __shfl_xor_sync(0xffffffffu, t, 5);
  out[4 * t + 1] = __shfl_down_sync(0xffffffffu, t, 3u);
  out[4 * t + 2] = __reduce_add_sync(0xffffffffu, lane);
  out[4 * t + 3] = __reduce_max_sync(0xffffffffu, (lane * 7) % 32 + t / 32 * 100);
}

TEST(CudaEmulation, WarpOperationsGiveEachLaneWhatTheDeviceWould) {
  std::vector<unsigned> out(4 * 64, 0);
  cuda_emulation::launch(warp_operations, dim3(1), dim3(32, 2), out.data());
  for (unsigned t = 0; t < 64; ++t) {
    const unsigned lane = t % 32, warp_base = t - lane;
    EXPECT_EQ(out[4 * t + 0], warp_base + (lane ^ 5u)) << t;
    EXPECT_EQ(out[4 * t + 1], lane + 3 < 32 ? t + 3 : t) << t;  // past the warp's end: its own value
    EXPECT_EQ(out[4 * t + 2], 496u) << t;                       // 0 + 1 + ... + 31
    EXPECT_EQ(out[4 * t + 3], 31u + t / 32 * 100) << t;         // lane * 7 mod 32 takes every value
  }
}

// Threads past n return before the barrier; the rest pass it and see every slot written.
__global__ void early_return_then_barrier(int n, int* out) {
  __shared__ int slots[kThreads];
  const int t = static_cast<int>(threadIdx.x);
  if (t >= n) return;
  slots[t] = t * t;
  __syncthreads();
  int sum = 0;
  for (int i = 0; i < n; ++i) sum += slots[i];
  out[t] = sum;
}

TEST(CudaEmulation, ThreadsThatReturnDoNotHoldTheOthersAtABarrier) {
  std::vector<int> out(kThreads, -1);
  cuda_emulation::launch(early_return_then_barrier, dim3(1), dim3(kThreads), 10, out.data());
  for (unsigned t = 0; t < kThreads; ++t) EXPECT_EQ(out[t], t < 10 ? 285 : -1) << t;  // 0 + 1 + 4 + ... + 81
}

// Lane 0 of warp 0 waits in a shuffle that its warp's other lanes never join (they wait at
// __syncthreads, which lane 0 never reaches): a hang on the device.
__global__ void barriers_that_cannot_be_passed(unsigned* out) {
  if (threadIdx.x == 0)
    out[0] = __shfl_xor_sync(0xffffffffu, 1u, 1);
  else
    __syncthreads();
}

TEST(CudaEmulation, BarriersThatCannotAllBePassedAreAnError) {
  unsigned out = 0;
  EXPECT_THROW(cuda_emulation::launch(barriers_that_cannot_be_passed, dim3(1), dim3(64), &out), std::logic_error);
  // The next launch of the same block size runs normally.
  std::vector<int> result(kThreads, -1);
  cuda_emulation::launch(early_return_then_barrier, dim3(1), dim3(kThreads), 3, result.data());
  EXPECT_EQ(result[2], 5);
}

__global__ void throws_in_one_block(int* out) {
  out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
  __syncthreads();
  if (blockIdx.x == 1 && threadIdx.x == 7) throw std::runtime_error("thread 7 of block 1");
}

TEST(CudaEmulation, AKernelsExceptionReachesTheCallerAfterTheGrid) {
  std::vector<int> out(3 * 32, 0);
  try {
    cuda_emulation::launch(throws_in_one_block, dim3(3), dim3(32), out.data());
    ADD_FAILURE() << "expected the kernel's exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "thread 7 of block 1");
  }
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i], 1) << i;  // every block ran
}

}  // namespace
