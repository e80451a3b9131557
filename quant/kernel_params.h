// The plain parameters a quantize kernel receives (built on the host from a Number and a
// Rounding by make_quant_params), and the counts a call reports. No pointers or
// host-only types: passed by value to CPU and CUDA kernels alike.
#pragma once

#include <cstdint>

namespace qtorch {

/// What one quantize call did (docs/numerics.md, "Overflow must stay visible").
struct QuantStats {
  /// Elements whose rounded value fell outside the format's range and were replaced by
  /// the range end (clamp/saturation) or by inf/NaN (non-saturating overflow), including
  /// +-inf inputs turned into +-max. Exactly the elements of the clamp mask.
  int64_t clamped = 0;
  /// Finite nonzero inputs whose output is zero (underflow).
  int64_t flushed = 0;
  /// Elements quantized.
  int64_t numel = 0;

  QuantStats& operator+=(const QuantStats& o) {
    clamped += o.clamped;
    flushed += o.flushed;
    numel += o.numel;
    return *this;
  }
  bool operator==(const QuantStats&) const = default;
};

namespace quant {

enum class QuantFamily : uint8_t { Fixed, Float, Block, MX, NVFP4 };

/// The element format of a block-scaled format (MX elements; NVFP4 uses E2M1): a float
/// grid with `man` mantissa bits, binades from emin (subnormal spacing 2^(emin - man)
/// below), the exponent emax that the block scale aligns the block's largest magnitude
/// to, and the largest magnitude (float32 bits). int8 is the grid k/64 (man 6, emin 0).
struct ElementFormat {
  int32_t man = 3, emin = -6, emax = 8;
  uint32_t max_bits = 0x43e00000u;  // 448
};

/// A rounding mode with the family's tie rule resolved (Rounding::Nearest becomes the
/// family's nearest rule from kFamilyTraits).
enum class RoundKind : uint8_t {
  Stochastic,
  NearestAway,  // ties away from zero
  NearestEven,  // ties to even
  NearestUp,    // ties toward +inf
  TowardZero,
  Up,
  Down,
};

/// Everything a kernel needs, precomputed from (Number, Rounding).
struct QuantParams {
  QuantFamily family = QuantFamily::Fixed;
  RoundKind kind = RoundKind::Stochastic;

  // ---- Fixed: grid 2^q (q = -fl), clamp to [lo, hi] (+-inf when clamp is off) ----
  int32_t q = 0;
  uint32_t unit = 0;  // float32 bits of 2^q (Fixed) or 2^qsub (Float)
  float lo = 0.0f, hi = 0.0f;

  // ---- Float: quantum 2^(max(e, emin) - man), below 2^emin quantum 2^qsub ----
  int32_t man = 23, emin = -126, qsub = -149;
  uint32_t max_bits = 0;  // magnitude bits of the largest finite value (0x7f800000: none)
  uint32_t ovf_bits = 0;  // what a finite overflow becomes when rounded away from zero
  uint32_t inf_bits = 0;  // what an infinite input becomes

  // ---- Block: x (contiguous) seen as [outer, blocks, inner], one exponent per block ----
  int32_t wl = 8;
  int64_t outer = 1, blocks = 1, inner = 1;

  // ---- MX / NVFP4: x (contiguous) seen as [outer, len, inner]; blocks of `block`
  // consecutive indices along len (the last one may be shorter), one scale per block and
  // inner index ----
  int64_t len = 1;
  int64_t block = 32;
  ElementFormat element{};
};

}  // namespace quant
}  // namespace qtorch
