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

/// A vector added to x before quantizing, in the same pass: element i is quantized as
/// x[i] + values[(i / inner) % period], a bias broadcast along one axis of `period` elements
/// with `inner` elements after it (a linear layer's output: the last axis, inner 1; a
/// convolution's: the channels, inner H*W). The sum is one float32 addition rounded to
/// nearest, as ops::add's.
struct BiasAdd {
  const float* values = nullptr;  // null: nothing is added
  int64_t period = 0;
  int64_t inner = 1;
};

/// The one-launch layouts (segments_kernel in quant/cuda/quantize_kernels.cuh): block floating
/// point rows of at most kMaxSegmentRow elements. Rows shorter than kLongRow leave most of
/// a row's CUDA block idle, so past kFewRows of them the two-pass path is the faster one.
inline constexpr int64_t kMaxSegmentRow = 8192;
inline constexpr int64_t kLongRow = 256;
inline constexpr int64_t kFewRows = 2048;

/// Whether a block floating point tensor's blocks are contiguous rows (p.outer == 1) that
/// segments_kernel quantizes in one launch: at most kMaxSegmentRow elements, long or few.
inline bool block_rows_in_one_launch(const QuantParams& p) {
  return p.outer == 1 && p.inner <= kMaxSegmentRow && (p.inner >= kLongRow || p.blocks <= kFewRows);
}

/// Whether every element of a block floating point tensor is a block of its own.
inline bool block_self_scaled(const QuantParams& p) { return p.outer == 1 && p.inner == 1; }

/// Elementwise ops quantize_cuda takes into its pass (quant::QuantizeFusion on the device):
/// before quantizing, x[i] + its bias value (BiasAdd) or where(gate[i], x[i], 0) (ReLU's
/// backward, gate being the ReLU's output: x[i] where gate[i] is nonzero or NaN, else +0);
/// after, relu_value of the quantized value (a ReLU after the quantizer). The mask and
/// counts are the quantization's own: of the value after the ops before, and before relu.
struct ElementOps {
  BiasAdd bias;
  const float* gate = nullptr;  // n floats; null: none
  bool relu = false;
  bool any() const { return bias.values != nullptr || gate != nullptr || relu; }
};

/// Whether quantize_cuda takes element ops for an n-element tensor with parameters p, in
/// one launch: fixed and floating point and single-element blocks (a bias along the last
/// axis only, inner 1), and block floating point rows in one launch (a bias that spans each
/// row whole, as a linear or convolution layer's output with one block per sample); n
/// below 2^32, so the indices are 32-bit arithmetic. `bias` describes the bias's layout
/// (period 0: no bias); its values are not read.
inline bool element_ops_in_one_pass(const QuantParams& p, int64_t n, const BiasAdd& bias = {}) {
  const bool has_bias = bias.period != 0;
  if (n >= (int64_t{1} << 32) || (has_bias && (bias.period < 0 || bias.inner <= 0))) return false;
  const bool elementwise = p.family == QuantFamily::Fixed || p.family == QuantFamily::Float ||
                           (p.family == QuantFamily::Block && block_self_scaled(p));
  if (elementwise) return !has_bias || bias.inner == 1;
  return p.family == QuantFamily::Block && block_rows_in_one_launch(p) &&
         (!has_bias || p.inner == bias.period * bias.inner);
}

/// CUDA implementation of the contract above (pointers are device pointers on CUDA device
/// `device`). With element ops (only where element_ops_in_one_pass(p, n, ops.bias)), each
/// element goes through them in the same pass, as described at ElementOps.
void quantize_cuda(const float* x, float* out, float* mask, int64_t n, const QuantParams& p,
                   uint64_t seed, uint64_t offset, unsigned long long* counts, int device, const ElementOps& ops = {});

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

/// A host copy of two device counters, queued without waiting (StatsCounter::prefetch):
/// page-locked host memory and an event recorded after the copy.
struct CountsPrefetch;
/// A prefetch slot for counters on `device`.
CountsPrefetch* alloc_counts_prefetch(int device);
/// Returns a slot from alloc_counts_prefetch (null is ignored).
void free_counts_prefetch(CountsPrefetch* slot);
/// Queues a copy of the two counters into the slot on the device's stream; never waits.
void prefetch_device_counts(const unsigned long long* counts, CountsPrefetch* slot);
/// When the slot's last queued copy has completed: true, with its values in host[0..1].
/// Never waits (an event query).
bool prefetched_counts(const CountsPrefetch* slot, unsigned long long host[2]);

}  // namespace qtorch::quant
