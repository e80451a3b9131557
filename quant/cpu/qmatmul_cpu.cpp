// CPU qmatmul: each output element's multiply-accumulate chain (quant/mac_core.h: MacState,
// or PlainMacState where the options make it one rounding per step);
// OpenMP over output rows. With floating formats, a row's chains run in AVX-512 lanes:
// without stochastic rounding sixteen at once in float32 (quant/cpu/qmatmul_float_lanes.h)
// for formats of at most 22 mantissa bits, else eight at once in doubles
// (quant/cpu/qmatmul_fast.h); a one-rounding chain with stochastic rounding into at most 19
// mantissa bits eight at once in doubles (quant/cpu/qmatmul_stochastic_lanes.h). Otherwise
// one chain at a time on contiguous rows of A and of B transposed. Stochastic chains make
// each element's random words 64 at a time beforehand. An element's result and random
// words depend on its index only, so the split among threads changes nothing.
#include "qtorch/quant/cpu/qmatmul_cpu.h"
#include "qtorch/core/cpu/parallel.h"

#include <optional>
#include <type_traits>
#include <vector>

#include "qtorch/quant/cpu/exact_subnormals.h"
#include "qtorch/quant/cpu/philox_simd.h"
#include "qtorch/quant/cpu/qmatmul_fast.h"
#include "qtorch/quant/cpu/qmatmul_float_lanes.h"
#include "qtorch/quant/cpu/qmatmul_stochastic_lanes.h"
#include "qtorch/quant/round_kind_dispatch.h"

namespace qtorch::quant {
namespace {

#if QTORCH_QUANT_AVX512
/// A vector kernel over the output, kLanes chains per vector: tiles of one row and four
/// interleaved vectors of columns, then single vectors for the rest of the row (the last
/// with fewer live lanes). kernel(groups, i, j, live lanes of the last vector) computes
/// out[i][j ...], with groups a std::integral_constant (4 or 1). Column-tile major: a
/// thread keeps its tiles of B (K x 4 kLanes floats) in cache across the rows of A.
template <int kLanes, class Kernel>
void over_row_tiles(const MacParams& m, bool parallel, Kernel kernel) {
  constexpr int64_t kTile = 4 * kLanes;
  const int64_t tiles = (m.N + kTile - 1) / kTile;
  qtorch::cpu::parallel_for(m.M * tiles, parallel, [&](int64_t t) {
    const cpu::ExactSubnormals exact_subnormals;
    const int64_t i = t % m.M, j0 = (t / m.M) * kTile;
    if (j0 + kTile <= m.N) {
      kernel(std::integral_constant<int, 4>{}, i, j0, kLanes);
      return;
    }
    for (int64_t j = j0; j < m.N; j += kLanes)
      kernel(std::integral_constant<int, 1>{}, i, j, static_cast<int>(m.N - j < kLanes ? m.N - j : kLanes));
  });
}
#endif

template <RoundKind KM, RoundKind KA>
void run(const float* a, const float* b, float* out, const MacParams& m, uint64_t seed, uint64_t offset,
         bool allow_fast) {
  const bool parallel = m.M * m.N * m.K >= (int64_t{1} << 16);
#if QTORCH_QUANT_AVX512
  if constexpr (KM != RoundKind::Stochastic && KA != RoundKind::Stochastic) {
    if (allow_fast && cpu::qmatmul_float_lanes_supported(m)) {
      const auto f = cpu::FloatLanesFormats::of<KM, KA>(m);
      if (!PlainMacState<KA>::serves(m)) {
        over_row_tiles<16>(m, parallel, [&](auto groups, int64_t i, int64_t j, int lanes) {
          cpu::mac_float_lanes<KM, KA, decltype(groups)::value, false, false>(m, f, a + i * m.K, b + j, m.N,
                                                                               out + i * m.N + j, lanes);
        });
        return;
      }
      // One rounding per step: where a tile's operands make every product exact in float32,
      // the sums round through odd_sum_round_lanes (no branch on decision points).
      const std::optional<cpu::ShortOperands> short_operands =
          m.acc.man <= 21 ? std::optional<cpu::ShortOperands>(std::in_place, a, b, m) : std::nullopt;
      over_row_tiles<16>(m, parallel, [&](auto groups, int64_t i, int64_t j, int lanes) {
        constexpr int G = decltype(groups)::value;
        const float *row = a + i * m.K, *bj = b + j;
        float* oj = out + i * m.N + j;
        if (short_operands && short_operands->tile(i, j, G))
          cpu::mac_float_lanes<KM, KA, G, true, true>(m, f, row, bj, m.N, oj, lanes);
        else
          cpu::mac_float_lanes<KM, KA, G, true, false>(m, f, row, bj, m.N, oj, lanes);
      });
      return;
    }
    if (allow_fast && cpu::qmatmul_fast_supported(m)) {
      const cpu::DoubleFormat mul(m.has_mul ? m.mul : m.acc), acc(m.acc);
      over_row_tiles<8>(m, parallel, [&](auto groups, int64_t i, int64_t j, int lanes) {
        cpu::mac_lanes<KM, KA, decltype(groups)::value>(m, mul, acc, a + i * m.K, b + j, m.N, out + i * m.N + j, lanes);
      });
      return;
    }
  }
  if constexpr (KA == RoundKind::Stochastic && KM == RoundKind::NearestEven) {
    // (Without a multiply format KM is NearestEven.)
    if (allow_fast && cpu::qmatmul_stochastic_lanes_supported(m)) {
      over_row_tiles<8>(m, parallel, [&](auto groups, int64_t i, int64_t j, int lanes) {
        thread_local std::vector<uint32_t> words;
        cpu::mac_stochastic_lanes<decltype(groups)::value>(m, a + i * m.K, b + j, out + i * m.N + j, i, j, lanes, seed,
                                                           offset, words);
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
      // Stochastic: an element's words, philox_bits(seed, offset, first + slot), made 64
      // at a time (philox_fill_groups) for the rows of slots its stochastic roundings read
      // (set_mac_word_layout), from rounding `lo`'s: slot s is at index s - lo * word_stride.
      const int64_t lo = KM == RoundKind::Stochastic && m.has_mul && !m.fma ? 0 : 1;
      const int64_t hi = KA != RoundKind::Stochastic ? 0 : m.compensated && !m.fma ? 4 : 1;
      const int64_t skip = lo * m.word_stride;
      std::vector<uint32_t> words;
      for (int64_t j = 0; j < m.N; ++j) {
        const float* col = bt + j * m.K;
        const uint64_t first = static_cast<uint64_t>(i * m.N + j) * static_cast<uint64_t>(m.slots);
        if (hi >= lo) {  // a stochastic rounding is read
          const int64_t groups = ((hi - lo + 1) * m.word_stride + 63) / 64;
          words.resize(static_cast<size_t>(64 * groups));
          cpu::philox_fill_groups(seed, offset + (first + static_cast<uint64_t>(skip)) / 4u, groups, words.data());
        }
        out[i * m.N + j] = mac_chain<State>(
            m, [row](int64_t k) { return row[k]; }, [col](int64_t k) { return col[k]; },
            [&](int64_t slot) { return words[static_cast<size_t>(slot - skip)]; });
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
