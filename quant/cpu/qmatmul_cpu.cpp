// CPU qmatmul: each output element's multiply-accumulate chain (quant/mac_core.h: MacState,
// or PlainMacState where the options make it one rounding per step);
// OpenMP over output rows. With floating formats and no stochastic rounding, eight chains
// of a row run at once in the AVX-512 kernel of quant/cpu/qmatmul_fast.h; otherwise one
// chain at a time on contiguous rows of A and of B transposed, with the element's random
// words (stochastic rounding) made 64 at a time beforehand. An element's result and random
// words depend on its index only, so the split among threads changes nothing.
#include "qtorch/quant/cpu/qmatmul_cpu.h"
#include "qtorch/core/cpu/parallel.h"

#include <vector>

#include "qtorch/quant/cpu/exact_subnormals.h"
#include "qtorch/quant/cpu/philox_simd.h"
#include "qtorch/quant/cpu/qmatmul_fast.h"
#include "qtorch/quant/round_kind_dispatch.h"

namespace qtorch::quant {
namespace {

template <RoundKind KM, RoundKind KA>
void run(const float* a, const float* b, float* out, const MacParams& m, uint64_t seed, uint64_t offset,
         bool allow_fast) {
  const bool parallel = m.M * m.N * m.K >= (int64_t{1} << 16);
#if QTORCH_QUANT_AVX512
  if constexpr (KM != RoundKind::Stochastic && KA != RoundKind::Stochastic) {
    if (allow_fast && cpu::qmatmul_fast_supported(m)) {
      const cpu::DoubleFormat mul(m.has_mul ? m.mul : m.acc), acc(m.acc);
      // Tiles of one row and 32 columns (four interleaved vectors of chains), then groups
      // of eight for the rest of the row.
      constexpr int64_t kTile = 32;
      const int64_t tiles = (m.N + kTile - 1) / kTile;
      qtorch::cpu::parallel_for(m.M * tiles, parallel, [&](int64_t t) {
        const cpu::ExactSubnormals exact_subnormals;
        // Column-tile major: a thread keeps its tiles of B (K x 32 floats each) in cache
        // across the rows of A.
        const int64_t i = t % m.M, j0 = (t / m.M) * kTile;
        const float* row = a + i * m.K;
        float* o = out + i * m.N;
        if (j0 + kTile <= m.N) {
          cpu::mac_lanes<KM, KA, 4>(m, mul, acc, row, b + j0, m.N, o + j0, 8);
          return;
        }
        for (int64_t j = j0; j < m.N; j += 8) {
          const int lanes = static_cast<int>(m.N - j < 8 ? m.N - j : 8);
          cpu::mac_lanes<KM, KA, 1>(m, mul, acc, row, b + j, m.N, o + j, lanes);
        }
      });
      return;
    }
  }
#else
  (void)allow_fast;
#endif
  // B transposed to [N, K], so each chain reads both operands contiguously.
  std::vector<float> transposed(static_cast<size_t>(m.N * m.K));
  for (int64_t k = 0; k < m.K; ++k)
    for (int64_t j = 0; j < m.N; ++j) transposed[static_cast<size_t>(j * m.K + k)] = b[k * m.N + j];
  const float* bt = transposed.data();
  const auto chains = [&](auto state) {
    using State = decltype(state);
    qtorch::cpu::parallel_for(m.M, parallel, [&](int64_t i) {
      const cpu::ExactSubnormals exact_subnormals;
      const float* row = a + i * m.K;
      // Stochastic: an element's words, philox_bits(seed, offset, first + slot) for its
      // slots, made 64 at a time (philox_fill_groups) from the block holding word `first`:
      // word first + slot is at index first % 4 + slot.
      std::vector<uint32_t> words;
      for (int64_t j = 0; j < m.N; ++j) {
        const float* col = bt + j * m.K;
        const uint64_t first = static_cast<uint64_t>(i * m.N + j) * static_cast<uint64_t>(m.slots);
        const size_t skip = static_cast<size_t>(first % 4u);
        if constexpr (KM == RoundKind::Stochastic || KA == RoundKind::Stochastic) {
          const int64_t groups = static_cast<int64_t>((skip + static_cast<size_t>(m.slots) + 63u) / 64u);
          words.resize(static_cast<size_t>(64 * groups));
          cpu::philox_fill_groups(seed, offset + first / 4u, groups, words.data());
        }
        out[i * m.N + j] = mac_chain<State>(
            m, [row](int64_t k) { return row[k]; }, [col](int64_t k) { return col[k]; },
            [&](int64_t slot) { return words[skip + static_cast<size_t>(slot)]; });
      }
    });
  };
  with_mac_state<KM, KA>(m, chains);
}

}  // namespace

void qmatmul_cpu(const float* a, const float* b, float* out, const MacParams& m, uint64_t seed, uint64_t offset,
                 bool allow_fast) {
  // Without a multiply format its rounding is never read: one instantiation serves.
  const RoundKind km = m.has_mul ? m.mul.kind : RoundKind::NearestEven;
  with_round_kind(km, [&](auto mul) {
    with_round_kind(m.acc.kind, [&](auto acc) {
      run<decltype(mul)::value, decltype(acc)::value>(a, b, out, m, seed, offset, allow_fast);
    });
  });
}

}  // namespace qtorch::quant
