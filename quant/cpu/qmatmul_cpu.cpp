// CPU qmatmul: each output element's multiply-accumulate chain (quant/mac_core.h) on
// contiguous rows of A and of B transposed; OpenMP over output rows. An element's result
// and random words depend on its index only, so the split among threads changes nothing.
#include "qtorch/quant/cpu/qmatmul_cpu.h"

#include "qtorch/core/philox.h"
#include "qtorch/quant/cpu/exact_subnormals.h"

namespace qtorch::quant {
namespace {

template <RoundKind KM, RoundKind KA>
void run(const float* a, const float* bt, float* out, const MacParams& m, uint64_t seed, uint64_t offset) {
#pragma omp parallel for schedule(static) if (m.M * m.N * m.K >= (int64_t{1} << 16))
  for (int64_t i = 0; i < m.M; ++i) {
    const cpu::ExactSubnormals exact_subnormals;
    const float* row = a + i * m.K;
    for (int64_t j = 0; j < m.N; ++j) {
      const float* col = bt + j * m.K;
      const uint64_t first = static_cast<uint64_t>(i * m.N + j) * static_cast<uint64_t>(m.slots);
      out[i * m.N + j] = mac_chain<KM, KA>(
          m, [row](int64_t k) { return row[k]; }, [col](int64_t k) { return col[k]; },
          [&](int64_t slot) { return philox_bits(seed, offset, first + static_cast<uint64_t>(slot)); });
    }
  }
}

template <RoundKind KM>
void dispatch_acc(const float* a, const float* bt, float* out, const MacParams& m, uint64_t seed, uint64_t offset) {
  switch (m.acc.kind) {
#define QTORCH_MAC_CASE(k) \
  case RoundKind::k:       \
    return run<KM, RoundKind::k>(a, bt, out, m, seed, offset);
    QTORCH_MAC_CASE(Stochastic)
    QTORCH_MAC_CASE(NearestAway)
    QTORCH_MAC_CASE(NearestEven)
    QTORCH_MAC_CASE(NearestUp)
    QTORCH_MAC_CASE(TowardZero)
    QTORCH_MAC_CASE(Up)
    QTORCH_MAC_CASE(Down)
#undef QTORCH_MAC_CASE
  }
}

}  // namespace

void qmatmul_cpu(const float* a, const float* bt, float* out, const MacParams& m, uint64_t seed, uint64_t offset) {
  // Without a multiply format its rounding is never read: one instantiation serves.
  const RoundKind km = m.has_mul ? m.mul.kind : RoundKind::NearestEven;
  switch (km) {
#define QTORCH_MAC_CASE(k) \
  case RoundKind::k:       \
    return dispatch_acc<RoundKind::k>(a, bt, out, m, seed, offset);
    QTORCH_MAC_CASE(Stochastic)
    QTORCH_MAC_CASE(NearestAway)
    QTORCH_MAC_CASE(NearestEven)
    QTORCH_MAC_CASE(NearestUp)
    QTORCH_MAC_CASE(TowardZero)
    QTORCH_MAC_CASE(Up)
    QTORCH_MAC_CASE(Down)
#undef QTORCH_MAC_CASE
  }
}

}  // namespace qtorch::quant
