// Exact subnormal arithmetic for the lifetime of an object: the CPU quantize kernels
// compute on subnormals, so a caller's flush-to-zero / denormals-are-zero mode would change
// their results.
#pragma once

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace qtorch::quant::cpu {

#if defined(__SSE__)
/// Clears flush-to-zero and denormals-are-zero in this thread's MXCSR for its lifetime:
/// the grid kernels compute on subnormals with float arithmetic, and the compiler turns
/// the scalar loop's clamps into vminps / vmaxps, so either mode would change results.
class ExactSubnormals {
 public:
  ExactSubnormals() : saved_(_mm_getcsr()) {
    if (saved_ & kFlushBits) _mm_setcsr(saved_ & ~kFlushBits);
  }
  ~ExactSubnormals() {
    if (saved_ & kFlushBits) _mm_setcsr(saved_);
  }
  ExactSubnormals(const ExactSubnormals&) = delete;
  ExactSubnormals& operator=(const ExactSubnormals&) = delete;

 private:
  static constexpr unsigned kFlushBits = 0x8040u;  // FTZ | DAZ
  unsigned saved_;
};
#else
struct ExactSubnormals {};
#endif

}  // namespace qtorch::quant::cpu
