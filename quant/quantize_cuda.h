// The device seam of quantize: one function per device with the same signature.
// quant/cpu/quantize_cpu.cpp implements quantize_cpu; quant/cuda/*.cu implements
// quantize_cuda (non-CUDA builds link quant/nocuda/quantize_cuda_unavailable.cpp, which throws).
//
// Contract for both (the CUDA kernel must give the same bits as the CPU one):
// - x, out (and mask when not null) are contiguous arrays of n floats on the device;
//   out may equal x (in place). mask[i] = 1.0f where the element was clamped/saturated
//   (the kernel's `clamped` flag), else 0.0f.
// - p comes from make_quant_params (quant/quantize.h) and holds only plain values.
//   Elementwise families (Fixed, Float): out[i] = quantize_fixed/quantize_float<kind>(x[i], p,
//   rnd_i, clamped_i) from quant/rounding_core.h. Block: x is [p.outer, p.blocks, p.inner];
//   first the largest |x| bits of each block j (an integer max over float_bits(x) & 0x7fffffff,
//   which also catches NaN/inf), then block_scale(max_j, p.wl) and quantize_block<kind>.
//   MX / NVFP4: x is [p.outer, p.len, p.inner] with blocks of p.block along len; each
//   block's (and, for NVFP4, the tensor's largest finite) magnitude bits, then the rules of
//   quant/microscaling_core.h (mx_scale / quantize_mx, nvfp4_tensor_scale /
//   nvfp4_block_scale / quantize_nvfp4).
// - Random bits (only read when p.kind == RoundKind::Stochastic): rnd_i =
//   philox_bits(seed, offset, i) from core/philox.h, i.e. word i % 4 of the Philox block at
//   counter offset + i / 4, where i is the flat element index. The caller has reserved
//   (n + 3) / 4 blocks from the generator starting at `offset`.
// - counts: when not null, device memory of two counters to which the call adds its
//   clamped count (the number of set mask elements) in [0] and its flushed count
//   (flushed_to_zero(x, out)) in [1]. The call never waits for the device.
#pragma once

#include <cstdint>
#include <vector>

#include "qtorch/quant/kernel_params.h"

namespace qtorch::quant {

/// CUDA implementation of the contract above (pointers are device pointers on CUDA device
/// `device`).
void quantize_cuda(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
                   uint64_t seed, uint64_t offset, unsigned long long* counts, int device);

/// One tensor of quantize_list_cuda's list: n contiguous floats at x, quantized in place with
/// its own kernel parameters p (the list's format and rounding, its own block layout) and the
/// Philox blocks from `offset` on, as quantize_cuda(x, x, nullptr, n, p, seed, offset, ...).
struct QuantizeListItem {
  float* x;
  int64_t n;
  QuantParams p;
  uint64_t offset;
};

/// Every item as its own quantize_cuda call would quantize it, in as few launches as the
/// format allows: one for all fixed, float and block floating point items whose blocks are
/// contiguous rows of at most 8192 elements or single elements. The items must not overlap.
void quantize_list_cuda(const std::vector<QuantizeListItem>& items, uint64_t seed, unsigned long long* counts,
                        int device);

/// Two zeroed device counters on `device` for quantize_cuda's `counts` (StatsCounter).
unsigned long long* alloc_device_counts(int device);
/// Copies the two counters to host[0..1], waiting for the work queued on their device.
void read_device_counts(const unsigned long long* counts, int device, unsigned long long host[2]);
/// Returns counters from alloc_device_counts (null is ignored).
void free_device_counts(unsigned long long* counts);

}  // namespace qtorch::quant
