// The bytes that carry a quantized tensor between processes: each element as its code in
// the format (wl bits for fixed point and block floating point, 1 + exp + man bits for a
// float, the element's bits for MX), bit-packed, plus each block's scale (block floating
// point: a 16-bit exponent per block; MX: its 8-bit E8M0 scale). Values a code cannot hold
// (inf, NaN, fixed point without clamping beyond wl bits) travel as exceptions: their
// index and float32 value. Decoding gives back the same float32 values, and the same bits
// apart from the sign of zero: an integer code (fixed point, block floating point, MX int8)
// has one zero, so -0 arrives as +0 (the receiver sums into +0 either way).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "qtorch/core/shape.h"
#include "qtorch/core/tensor.h"
#include "qtorch/quant/number.h"

namespace qtorch::dist {

/// Throws qtorch::Error unless `number` can be packed: fixed point, floating point, block
/// floating point and MX can; NVFP4 cannot (its E4M3 block scales and float32 tensor
/// scale are not recoverable from the quantized values). `what` names the setting.
void check_packable(const Number& number, const char* what = "comm");

/// Appends the encoding of `q` (float32 on the CPU, contiguous, holding values of
/// `number`, as quant::quantize gives them) to `out`.
void encode_payload(const Tensor& q, const Number& number, std::vector<uint8_t>& out);

/// Decodes one tensor of `shape` from data[offset...] into `out` (shape.numel() floats)
/// and advances `offset`. Throws qtorch::Error when the bytes end early or an exception
/// index is out of range.
void decode_payload(const uint8_t* data, size_t size, size_t& offset, const Number& number, const Shape& shape,
                    float* out);

/// The bytes encode_payload writes for a tensor of `shape` without exceptions: a 4-byte
/// exception count, the scales, and ceil(numel * bits / 8) bytes of codes.
size_t payload_size(const Number& number, const Shape& shape);

}  // namespace qtorch::dist
