// Binning by the float32 exponent field.
#include "examples/papers/log2_histogram.h"

#include <bit>
#include <cmath>
#include <cstring>

namespace qrepro {

void Log2Histogram::add(const qtorch::Tensor& x) {
  const qtorch::Tensor c = x.contiguous();
  const float* p = c.data_ptr();
  for (int64_t i = 0, n = c.numel(); i < n; ++i) {
    const float v = std::fabs(p[i]);
    if (v == 0.0f) {
      ++zeros;
      continue;
    }
    if (!std::isfinite(v)) continue;
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    const int e = static_cast<int>((bits >> 23) & 0xff);
    // floor(log2 v): the exponent field for normals, the mantissa's top bit for subnormals.
    ++bins[e != 0 ? e - 127 : -127 - std::countl_zero(bits << 9)];
  }
}

int64_t Log2Histogram::total_nonzero() const {
  int64_t t = 0;
  for (const auto& [e, c] : bins) t += c;
  return t;
}

double Log2Histogram::fraction_below(int e) const {
  int64_t below = 0;
  for (const auto& [k, c] : bins)
    if (k < e) below += c;
  const int64_t t = total_nonzero();
  return t ? double(below) / double(t) : 0.0;
}

}  // namespace qrepro
