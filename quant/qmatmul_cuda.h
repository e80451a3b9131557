// The device seam of qmatmul (quant/mac.h): one kernel entry point per device with the
// same contract. quant/cpu/qmatmul_cpu.cpp implements qmatmul_cpu
// (quant/cpu/qmatmul_cpu.h); quant/cuda/qmatmul_cuda.cu implements qmatmul_cuda (builds
// without CUDA link quant/nocuda/qmatmul_cuda_unavailable.cpp, which throws).
//
// Contract for both (the CUDA kernel must give the same bits as the CPU one):
// - a is [M, K] row-major, bt is B transposed, [N, K] row-major, out is [M, N] row-major;
//   contiguous float arrays on one device (for CUDA: device pointers of one GPU).
// - m comes from qmatmul_forward (quant/mac.cpp) and holds only plain values.
// - Output element o = i * N + j is the chain of quant/mac_core.h over k = 0, 1, ..., K - 1
//   in that order (MacState::step with a[i, k] and bt[j, k], then finish; mac_chain is
//   that loop), with the multiply and accumulate rounding kinds m.mul.kind and m.acc.kind.
// - Random bits (only read by stochastic roundings): the word of slot s (mac_slot) of
//   element o is philox_bits(seed, offset, o * m.slots + s) from core/philox.h; the caller has reserved
//   (M * N * slots + 3) / 4 Philox blocks from the generator starting at `offset`.
#pragma once

#include <cstdint>

#include "qtorch/quant/mac_core.h"

namespace qtorch::quant {

/// CUDA implementation of the contract above; queued on the device's stream (no wait).
void qmatmul_cuda(const float* a, const float* bt, float* out, const MacParams& m, uint64_t seed,
                  uint64_t offset);

}  // namespace qtorch::quant
