// The CUDA kernel of qmatmul (quant/qmatmul_cuda.h), launched by quant/cuda/qmatmul_cuda.cu.
// A block computes a kTile x kTile tile of the output; the operands pass through shared memory in slabs of kSlab k (coalesced global
// reads of A's rows and of B-transposed's rows), and every output element advances its own
// chain (MacState or PlainMacState of quant/mac_core.h, as the CPU kernel) through the
// slab's k in ascending order. Tiling changes only where operands are read from: each
// element's chain is the same sequence of roundings as on the CPU, so the bits are equal.
//
// Every product of two float32 is exact in double, so nvcc's contraction of a product and
// a sum into an FMA (on by default) cannot change a result: the unfused sum sees the same
// exact product. The other products in the chain are scalings by powers of two.
//
// Plain C++ apart from the CUDA keywords that tests/support/cuda_emulation.h provides, so
// that tests/quant/quantize_kernels_emulated_test.cpp runs it on the CPU.
#pragma once

#include <algorithm>
#include <cstdint>

#include "qtorch/core/philox.h"
#include "qtorch/quant/mac_core.h"
#include "qtorch/quant/round_kind_dispatch.h"

namespace qtorch::quant::qmatmul_kernels {

constexpr int kTile = 32;                           // output tile: kTile x kTile elements
constexpr int kSlab = 32;                           // k per shared-memory slab
constexpr int kThreadsX = 32;                       // a warp spans the tile's columns
constexpr int kThreadsY = 8;
constexpr int kThreads = kThreadsX * kThreadsY;     // 256
constexpr int kRowsPerThread = kTile / kThreadsY;   // rows ty, ty + 8, ty + 16, ty + 24
static_assert(kThreadsX == kTile && kTile % kThreadsY == 0);

/// The CUDA blocks per multiprocessor a kernel is compiled for: 4 bounds it to 64 registers
/// (65536 / (256 x 4)), 3 to 80, 0 leaves the bound to ptxas. ptxas (sm_90, nvcc 13) fits
/// these chains without spills: the one-rounding chain in 64 registers (unbounded, ptxas
/// chose 48 for three of its modes and spilled 16-24 bytes), with stochastic rounding in 80
/// (118 unbounded, with its Philox blocks); the general chain without stochastic rounding in
/// 80 but for 24 bytes in one instance (a NearestEven multiply with a NearestAway
/// accumulator; unbounded, ptxas gives it 102-120 registers, or 64-80 with 24-44 bytes of
/// spill in 10 of its 36 instances). The general chain with a stochastic rounding spills
/// 104-228 bytes at 80 (120-128 unbounded), so it is left unbounded.
template <class State>
inline constexpr int kMinBlocksPerMultiprocessor = 0;
template <RoundKind KA>
inline constexpr int kMinBlocksPerMultiprocessor<PlainMacState<KA>> = KA == RoundKind::Stochastic ? 3 : 4;
template <RoundKind KM, RoundKind KA>
inline constexpr int kMinBlocksPerMultiprocessor<MacState<KM, KA>> =
    KM == RoundKind::Stochastic || KA == RoundKind::Stochastic ? 0 : 3;

/// Block b computes output tiles b, b + gridDim.x, ...; tile t covers rows
/// (t / tiles_n) * kTile.. and columns (t % tiles_n) * kTile... Thread (tx, ty) owns column
/// tx and rows ty + r * kThreadsY of the tile.
/// State: the chain's state type (MacState, or PlainMacState where it serves).
template <class State>
__global__ void __launch_bounds__(kThreads, kMinBlocksPerMultiprocessor<State>)
    qmatmul_kernel(const float* __restrict__ a, const float* __restrict__ bt, float* __restrict__ out,
                   MacParams m, uint64_t seed, uint64_t offset, int64_t tiles_n, int64_t tiles) {
  // +1 column: the transposing stores and the column reads hit 32 different banks.
  __shared__ float a_slab[kTile][kSlab + 1];  // [row of the tile][k of the slab]
  __shared__ float b_slab[kSlab][kTile + 1];  // [k of the slab][column of the tile]
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int t = ty * kThreadsX + tx;
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t i0 = (tile / tiles_n) * kTile, j0 = (tile % tiles_n) * kTile;
    const int64_t j = j0 + tx;
    State state[kRowsPerThread];
    uint64_t first_word[kRowsPerThread];  // the first random word of each owned element
    // Each chain's last Philox block: a rounding's words are consecutive over k, so a chain
    // with one stochastic rounding per step makes a block every fourth step. Every
    // element's words start a block (set_mac_word_layout), so the warp's chains make
    // theirs at the same steps.
    PhiloxWordCache words[kRowsPerThread];
    bool live[kRowsPerThread];
#pragma unroll
    for (int r = 0; r < kRowsPerThread; ++r) {
      const int64_t i = i0 + ty + r * kThreadsY;
      live[r] = i < m.M && j < m.N;
      first_word[r] = static_cast<uint64_t>(i * m.N + j) * static_cast<uint64_t>(m.slots);
    }
    for (int64_t k0 = 0; k0 < m.K; k0 += kSlab) {
      const int slab = static_cast<int>(m.K - k0 < kSlab ? m.K - k0 : kSlab);
      // Consecutive threads read consecutive k of one row of A and of one row of B^T.
      for (int e = t; e < kTile * kSlab; e += kThreads) {
        const int row = e / kSlab, kk = e % kSlab;
        const bool k_in = kk < slab;
        const int64_t i = i0 + row, jb = j0 + row;
        a_slab[row][kk] = k_in && i < m.M ? a[i * m.K + k0 + kk] : 0.0f;
        b_slab[kk][row] = k_in && jb < m.N ? bt[jb * m.K + k0 + kk] : 0.0f;
      }
      __syncthreads();
      for (int kk = 0; kk < slab; ++kk) {
        const int64_t k = k0 + kk;
        const float b = b_slab[kk][tx];
#pragma unroll
        for (int r = 0; r < kRowsPerThread; ++r) {
          if (!live[r]) continue;
          const uint64_t first = first_word[r];
          state[r].step(m, k, a_slab[ty + r * kThreadsY][kk], b, [&](int64_t slot) {
            return words[r].bits(seed, offset, first + static_cast<uint64_t>(slot));
          });
        }
      }
      __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < kRowsPerThread; ++r)
      if (live[r]) out[(i0 + ty + r * kThreadsY) * m.N + j] = state[r].finish(m);
  }
}

/// The product of qmatmul_cuda's contract (quant/qmatmul_cuda.h), run with
/// launch(kernel, grid, threads, args...).
template <class Launch>
void run_qmatmul(const float* a, const float* bt, float* out, const MacParams& m, uint64_t seed, uint64_t offset,
                 Launch launch) {
  if (m.M * m.N <= 0) return;
  const int64_t tiles_m = (m.M + kTile - 1) / kTile, tiles_n = (m.N + kTile - 1) / kTile;
  const int64_t tiles = tiles_m * tiles_n;
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>(tiles, int64_t{1} << 30)));
  // Without a multiply format its rounding is never read: one instantiation serves (as on
  // the CPU).
  const RoundKind km = m.has_mul ? m.mul.kind : RoundKind::NearestEven;
  // A chain of one rounding per step has its own kernel, with a state of one float (the
  // same kernel for every multiply rounding).
  with_round_kind(km, [&](auto mul) {
    with_round_kind(m.acc.kind, [&](auto acc) {
      with_mac_state<decltype(mul)::value, decltype(acc)::value>(m, [&](auto state) {
        launch(qmatmul_kernel<decltype(state)>, grid, dim3(kThreadsX, kThreadsY), a, bt, out, m, seed, offset,
               tiles_n, tiles);
      });
    });
  });
}
}  // namespace qtorch::quant::qmatmul_kernels
