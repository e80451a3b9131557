// How many CUDA blocks a launch takes: plain host arithmetic, shared by the launches in .cu
// files and the host code of kernel headers that tests run on the CPU.
#pragma once

#include <cstdint>

namespace qtorch::cuda {

/// The largest gridDim.x a launch may have (2^31 - 1): the cap of kernels that cover their
/// items with one block per item group and no grid-stride loop.
inline constexpr int64_t kMaxGridX = (int64_t{1} << 31) - 1;

/// Blocks of `threads` covering n items, capped so grid-stride loops do the rest.
inline unsigned blocks_for(int64_t n, int threads, int64_t cap = 65535LL * 32) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > cap) b = cap;
  return static_cast<unsigned>(b);
}

}  // namespace qtorch::cuda
