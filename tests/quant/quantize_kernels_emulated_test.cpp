// The GPU's quantize kernels (quant/cuda/quantize_kernels.cuh) run on the CPU through
// tests/support/cuda_emulation.h, so that a machine without a GPU checks them against the CPU
// quantizers bit for bit: outputs, clamp masks and counts.
// - quantize_in_segments, the path of every GPU quantize call with element ops and of block
//   floating point rows: block rows from registers (aligned, rows a multiple of 4) and read
//   twice (misaligned, odd rows, a bias per channel), elementwise chunks (fixed, float, one
//   element per block), with a bias, a ReLU, ReLU's backward (the gate), a bias and a ReLU,
//   or nothing; against quant::quantize_fused on the CPU.
// - quantize_list_in_segments: a list of tensors in one launch, against
//   quant::quantize_each_in_place.
// - The two-pass block floating point layouts: each maxima kernel
//   (quant/cuda/block_maxima_kernels.cuh: long rows, short rows in shared memory, global
//   atomics) against the maxima of the contract of quant/quantize_cuda.h computed here, then
//   quantize_kernel from them on a small grid, so that its grid-stride loop runs.
// - Every branch of quantize_cuda's dispatch (quant/cuda/quantize_dispatch.cuh: fixed, float,
//   the three block floating point paths, MX, NVFP4), as the library runs it.
// - MX and NVFP4 (quant/cuda/microscaling_kernels.cuh) through that dispatch: every kernel by
//   layout (aligned blocks, short blocks, column blocks), each element type, aligned and
//   misaligned, counted and not, with NVFP4's tensor-wide maximum from its own kernel.
// - qmatmul (quant/cuda/qmatmul_kernels.cuh): products across tile and slab edges with every
//   kind of chain (multiply format, FMA, Kahan, chunks, stochastic roundings), against
//   qmatmul_forward on the CPU.
// tests/cuda runs the same kernels on a device (fused_quantize_parity_test.cpp,
// quantize_parity_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "qtorch/core/generator.h"
#include "qtorch/qtorch.h"
#include "qtorch/quant/mac.h"
#include "qtorch/quant/quantize.h"
#include "tests/support/cuda_emulation.h"
#include "tests/support/same_bits.h"
// After the emulation: the kernels see its CUDA keywords and intrinsics.
#include "qtorch/quant/cuda/qmatmul_kernels.cuh"
#include "qtorch/quant/cuda/quantize_dispatch.cuh"

namespace qtorch::quant::block_maxima_kernels {
uint32_t block_maxima_shared[kSharedBlocks];  // short_rows_max_kernel's dynamic shared memory
}  // namespace qtorch::quant::block_maxima_kernels

using namespace qtorch;
using namespace qtorch::quant;
using qtorch::test_support::expect_same_bits;

namespace {

/// Values at several scales, with zeros of both signs, inf, NaN and subnormals among them.
std::vector<float> mixed(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const float scales[] = {1.0f, 8.0f, 1e-3f, 300.0f, 1e-6f};
  std::vector<float> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = dist(rng) * scales[i % 5];
  const float inf = std::numeric_limits<float>::infinity();
  const float special[] = {0.0f, -0.0f, inf, -inf, std::nanf(""), 1e-40f, -1e-40f};
  for (size_t i = 0; i < 7 && i * 29 + 5 < v.size(); ++i) v[i * 29 + 5] = special[i];
  return v;
}

/// n floats starting `shift` floats past a 16-byte boundary (the kernels' float4 paths need
/// 0; 1 sends them to their scalar paths).
class HostBuffer {
 public:
  HostBuffer(int64_t n, int shift) : storage_(static_cast<size_t>(n + 8) / 4 + 1), shift_(shift), n_(n) {}
  HostBuffer(const std::vector<float>& v, int shift) : HostBuffer(static_cast<int64_t>(v.size()), shift) {
    std::copy(v.begin(), v.end(), data());
  }
  float* data() { return reinterpret_cast<float*>(storage_.data()) + shift_; }
  std::vector<float> values() { return std::vector<float>(data(), data() + n_); }

 private:
  std::vector<float4> storage_;
  int shift_;
  int64_t n_;
};

/// The kernel's counts against the CPU call's.
void expect_counts(const unsigned long long (&counts)[2], const QuantStats& stats, const std::string& what) {
  EXPECT_EQ(counts[0], static_cast<unsigned long long>(stats.clamped)) << what << ": clamped";
  EXPECT_EQ(counts[1], static_cast<unsigned long long>(stats.flushed)) << what << ": flushed";
}

const Rounding kRoundings[] = {Rounding::Stochastic, Rounding::Nearest, Rounding::Down};

/// The list items of host's buffers, with the Philox offsets the calls one by one reserve
/// ((n + 3) / 4 blocks each, from 0) for the stochastic ones.
std::vector<QuantizeListItem> list_items(std::vector<HostBuffer>& host, const std::vector<Shape>& shapes,
                                         const Number& number, Rounding r) {
  std::vector<QuantizeListItem> items;
  uint64_t offset = 0;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const int64_t n = numel_of(shapes[i]);
    const QuantParams p = make_quant_params(number, r, shapes[i]);
    items.push_back({host[i].data(), n, p, p.kind == RoundKind::Stochastic ? offset : 0});
    if (p.kind == RoundKind::Stochastic) offset += static_cast<uint64_t>((n + 3) / 4);
  }
  return items;
}
constexpr uint64_t kSeed = 9, kOffset = 55;

/// The CPU's result of one quantize call with the generator at (kSeed, kOffset).
struct CpuQuantize {
  std::vector<float> out, mask;
  QuantStats stats;
  CpuQuantize(const std::vector<float>& x, const Shape& shape, const Number& number, Rounding r) {
    Generator g(kSeed);
    g.set_state(kSeed, kOffset);
    Tensor m;
    out = quantize(Tensor::from_vector(x, shape), number, r, {.generator = &g, .stats = &stats, .mask = &m})
              .to_vector();
    mask = m.to_vector();
  }
};

/// quantize_cuda's host code (kernels::run_quantize) on the CPU, with zeroed vectors for its
/// device scratch memory and one multiprocessor.
void emulated_quantize(float* x, float* out, float* mask, int64_t n, const QuantParams& p,
                       unsigned long long* counts) {
  std::vector<std::vector<uint32_t>> scratch;
  kernels::run_quantize(
      x, out, mask, n, p, kSeed, kOffset, counts, {}, 1,
      [&](int64_t count) {
        scratch.emplace_back(static_cast<size_t>(count), 0u);
        return scratch.back().data();
      },
      cuda_emulation::Launch{.shared_capacity = sizeof(block_maxima_kernels::block_maxima_shared)});
}

/// x of `shape` through the dispatch against the CPU, three ways: with a mask and counts (16-byte
/// aligned), with counts alone (misaligned: the scalar paths), and with neither.
void expect_dispatch_gives_the_cpu_bits(const std::vector<float>& x, const Shape& shape, const Number& number,
                                        Rounding r, const std::string& label) {
  const int64_t n = numel_of(shape);
  const CpuQuantize want(x, shape, number, r);
  const QuantParams p = make_quant_params(number, r, shape);
  struct Mode {
    int shift;
    bool mask, counts;
    const char* name;
  };
  for (const Mode& m : {Mode{0, true, true, ""}, Mode{1, false, true, " (misaligned, counts only)"},
                        Mode{0, false, false, " (nothing counted)"}}) {
    const std::string what = label + m.name;
    HostBuffer xb(x, m.shift), out(n, m.shift), mb(n, m.shift);
    unsigned long long counts[2] = {0, 0};
    emulated_quantize(xb.data(), out.data(), m.mask ? mb.data() : nullptr, n, p, m.counts ? counts : nullptr);
    expect_same_bits(out.values(), want.out, what);
    if (m.mask) expect_same_bits(mb.values(), want.mask, what + " mask");
    if (m.counts) expect_counts(counts, want.stats, what);
  }
}

// Every thread's counts near 2^32 (an MX block down a column is one thread's), summed into
// the device counters by Counts::add_to.
__global__ void count_near_limit(unsigned clamped, unsigned flushed, unsigned long long* counters) {
  Counts counts;
  counts.clamped = clamped;
  counts.flushed = threadIdx.x % 2 ? flushed : 0u;
  counts.add_to(counters);
}

TEST(QuantizeKernelsEmulated, CountsOfAWarpAreSummedIn64Bits) {
  // 32 threads of 2^32 - 1 clamped elements passed 2^32 within the warp's 32-bit sum (audit s29).
  for (unsigned threads : {32u, 64u, 256u}) {
    unsigned long long counters[2] = {5, 7};
    unsigned long long* device_counters = counters;
    cuda_emulation::Launch{}(count_near_limit, dim3(3), dim3(threads), 0xffffffffu, 0x80000001u, device_counters);
    EXPECT_EQ(counters[0], 5ull + 3ull * threads * 0xffffffffull) << threads;
    EXPECT_EQ(counters[1], 7ull + 3ull * (threads / 2) * 0x80000001ull) << threads;
  }
}

TEST(QuantizeKernelsEmulated, SegmentsWithElementOpsGiveTheCpuBits) {
  struct Case {
    Shape shape;
    int axis;
  };
  // Rows of 256 from registers; rows of 10 and 7 read twice; three dimensions; past one
  // 8192-element chunk; a convolution's output with the bias on its channels.
  const Case cases[] = {{{6, 256}, -1}, {{5, 10}, -1}, {{3, 7}, -1}, {{2, 5, 40}, -1}, {{2, 4300}, -1},
                        {{3, 6, 8, 8}, 1}};
  const std::vector<Number> formats = {FixedPoint{.wl = 8, .fl = 4}, formats::fp8_e4m3(),
                                       BlockFloatingPoint{.wl = 8, .dim = 0}, BlockFloatingPoint{.wl = 6, .dim = -1}};
  enum Kind { None, Bias, Relu, Gate, BiasRelu };
  const char* const kind_names[] = {"nothing", "bias", "relu", "gate", "bias relu"};
  uint32_t seed = 300;
  int runs = 0;
  for (const auto& [shape, axis] : cases)
    for (const Number& number : formats)
      for (Kind kind : {None, Bias, Relu, Gate, BiasRelu}) {
        const int64_t n = numel_of(shape);
        const std::vector<float> x = mixed(n, seed++);
        std::vector<float> gate = mixed(n, seed++);
        for (float& e : gate) e = (e > 0.0f || std::isnan(e)) ? e : 0.0f;  // a ReLU's output
        const int64_t bias_axis = axis < 0 ? static_cast<int64_t>(shape.size()) - 1 : axis;
        const std::vector<float> bias = mixed(shape[static_cast<size_t>(bias_axis)], seed++);
        const bool with_bias = kind == Bias || kind == BiasRelu;
        int64_t inner = 1;
        for (size_t d = static_cast<size_t>(bias_axis) + 1; d < shape.size(); ++d) inner *= shape[d];
        for (Rounding r : kRoundings) {
          const QuantParams p = make_quant_params(number, r, shape);
          const BiasAdd layout{.values = nullptr, .period = with_bias ? static_cast<int64_t>(bias.size()) : 0,
                               .inner = inner};
          if (!element_ops_in_one_pass(p, n, layout)) continue;  // the GPU runs the ops one by one there
          const std::string label = shape_str(shape) + " axis " + std::to_string(axis) + " " +
                                    qtorch::to_string(number) + " " + rounding_name(r) + " " + kind_names[kind];
          // The CPU: the ops one by one.
          QuantizeFusion f;
          if (kind == Gate) f.gate = Tensor::from_vector(gate, shape);
          if (with_bias) {
            f.bias = Tensor::from_vector(bias, {static_cast<int64_t>(bias.size())});
            f.axis = axis;
          }
          f.relu = kind == Relu || kind == BiasRelu;
          Generator g(kSeed);
          g.set_state(kSeed, kOffset);
          Tensor mask;
          QuantStats stats;
          const std::vector<float> want =
              quantize_fused(Tensor::from_vector(x, shape), f, number, r, {.generator = &g, .stats = &stats, .mask = &mask})
                  .to_vector();
          // The kernels: counted with x, gate and bias aligned; not counted from misaligned views.
          for (int shift : {0, 1}) {
            HostBuffer xb(x, shift), gb(gate, shift), bb(bias, 0), out(n, 0), mb(n, 0);
            unsigned long long counts[2] = {0, 0};
            ElementOps ops;
            if (kind == Gate) ops.gate = gb.data();
            if (with_bias) ops.bias = BiasAdd{.values = bb.data(), .period = layout.period, .inner = inner};
            ops.relu = f.relu;
            const bool counted = shift == 0;
            kernels::quantize_in_segments(xb.data(), out.data(), counted ? mb.data() : nullptr, n, p, kSeed, kOffset,
                                          counted ? counts : nullptr, ops, cuda_emulation::Launch{});
            const std::string what = label + (counted ? "" : " (misaligned, not counted)");
            expect_same_bits(out.values(), want, what);
            if (counted) {
              expect_same_bits(mb.values(), mask.to_vector(), what + " mask");
              expect_counts(counts, stats, what);
            }
            ++runs;
          }
        }
      }
  EXPECT_GT(runs, 300);  // most cases go to the kernels
}

TEST(QuantizeKernelsEmulated, ListsInOneLaunchGiveTheCpuBits) {
  // Block floating point rows (three tensors and a bias-like vector of single-element blocks)
  // and fixed point: in place, in list order, as quantize_each_in_place on the CPU.
  const std::vector<Shape> shapes = {{4, 256}, {3, 12}, {7}, {2, 3, 20}};
  for (const Number& number : {Number{BlockFloatingPoint{.wl = 8, .dim = 0}}, Number{FixedPoint{.wl = 6, .fl = 3}}})
    for (Rounding r : kRoundings) {
      std::vector<Tensor> cpu;
      std::vector<HostBuffer> host;
      uint32_t seed = 40;
      for (const Shape& s : shapes) {
        const std::vector<float> v = mixed(numel_of(s), seed++);
        cpu.push_back(Tensor::from_vector(v, s));
        host.emplace_back(v, 0);
      }
      Generator g(kSeed);
      QuantStats stats;
      quantize_each_in_place(cpu, number, r, {.generator = &g, .stats = &stats});
      const std::vector<QuantizeListItem> items = list_items(host, shapes, number, r);
      unsigned long long counts[2] = {0, 0};
      int alone = 0;
      kernels::quantize_list_in_segments(items, kSeed, counts, cuda_emulation::Launch{},
                                         [&](const QuantizeListItem&) { ++alone; });
      EXPECT_EQ(alone, 0);
      const std::string label = qtorch::to_string(number) + " " + rounding_name(r);
      for (size_t i = 0; i < shapes.size(); ++i)
        expect_same_bits(host[i].values(), cpu[i].to_vector(), label + " item " + std::to_string(i));
      expect_counts(counts, stats, label);
    }
}

TEST(QuantizeKernelsEmulated, ListsLongerThanOneLaunchGiveTheCpuBits) {
  // 60 tensors, more than one launch's segments: the list flushes in the middle. Warp rows (13
  // rows), block rows of 2048 from registers, rows read twice (7 columns, misaligned), single
  // element blocks, rows past 8192 that run alone, one-warp rows; the session-24 audit's case.
  const Shape kinds[] = {{13, 64}, {3, 2048}, {5, 7}, {9}, {2, 9000}, {1, 4}};
  const Number number = BlockFloatingPoint{.wl = 6, .dim = 0};
  for (Rounding r : {Rounding::Stochastic, Rounding::Nearest}) {
    std::vector<Shape> shapes;
    std::vector<Tensor> cpu;
    std::vector<HostBuffer> host;
    for (int i = 0; i < 60; ++i) {
      shapes.push_back(kinds[i % 6]);
      const std::vector<float> v = mixed(numel_of(shapes.back()), 7 + static_cast<uint32_t>(i));
      cpu.push_back(Tensor::from_vector(v, shapes.back()));
      host.emplace_back(v, i % 7 == 3 ? 1 : 0);
    }
    Generator g(kSeed);
    QuantStats stats;
    quantize_each_in_place(cpu, number, r, {.generator = &g, .stats = &stats});
    const std::vector<QuantizeListItem> items = list_items(host, shapes, number, r);
    unsigned long long counts[2] = {0, 0};
    int launches = 0;
    std::vector<std::vector<uint32_t>> scratch;
    kernels::quantize_list_in_segments(
        items, kSeed, counts,
        [&](auto kernel, dim3 grid, dim3 threads, const auto&... args) {
          ++launches;
          cuda_emulation::launch(kernel, grid, threads, args...);
        },
        [&](const QuantizeListItem& item) {  // a row past 8192: on its own, as the host code runs it
          kernels::run_quantize(
              item.x, item.x, nullptr, item.n, item.p, kSeed, item.offset, counts, {}, 1,
              [&](int64_t c) {
                scratch.emplace_back(static_cast<size_t>(c), 0u);
                return scratch.back().data();
              },
              cuda_emulation::Launch{.shared_capacity = sizeof(block_maxima_kernels::block_maxima_shared)});
        });
    EXPECT_GE(launches, 2) << "the list should take more than one launch";
    const std::string label = std::string("60 tensors ") + rounding_name(r);
    for (size_t i = 0; i < shapes.size(); ++i)
      expect_same_bits(host[i].values(), cpu[i].to_vector(), label + " item " + std::to_string(i));
    expect_counts(counts, stats, label);
  }
}

TEST(QuantizeKernelsEmulated, TwoPassBlockLayoutsGiveTheCpuBits) {
  // Blocks along dim 1 of [6, 10, 3] (outer 6, 10 blocks, inner 3: a group of 4 elements
  // straddles blocks) and of [3, 700] (short rows, in shared memory); dim 1 of [2, 3, 300]
  // and of [2, 2, 4500] (long rows, in one chunk and in two); dim 0 of [9000, 2] (more
  // blocks than shared memory holds: global atomics) and of [5, 8] (groups stay in one block).
  struct Case {
    Shape shape;
    int dim;
    const char* maxima_kernel;
  };
  const Case cases[] = {{{6, 10, 3}, 1, "short rows"},
                        {{3, 700}, 1, "short rows"},
                        {{2, 3, 300}, 1, "long rows"},
                        {{2, 2, 4500}, 1, "long rows, two chunks each"},
                        {{9000, 2}, 0, "global atomics"},
                        {{5, 8}, 0, "short rows"}};
  for (const auto& [shape, dim, maxima_kernel] : cases)
    for (Rounding r : kRoundings) {
      const int64_t n = numel_of(shape);
      const std::vector<float> x = mixed(n, 77);
      const Number number = BlockFloatingPoint{.wl = 6, .dim = dim};
      const QuantParams p = make_quant_params(number, r, shape);
      const std::string label = shape_str(shape) + " dim " + std::to_string(dim) + " " + rounding_name(r) + " (" +
                                maxima_kernel + ")";
      // The contract: maxima[j] = the largest magnitude bits of block j, (e / inner) % blocks.
      const auto maxima_of = [&](const std::vector<float>& v) {
        std::vector<uint32_t> m(static_cast<size_t>(p.blocks), 0);
        for (int64_t e = 0; e < n; ++e) {
          uint32_t& b = m[static_cast<size_t>((e / p.inner) % p.blocks)];
          b = std::max(b, float_bits(v[static_cast<size_t>(e)]) & kAbsMask);
        }
        return m;
      };
      const std::vector<uint32_t> want_maxima = maxima_of(x);
      const cuda_emulation::Launch launch{.shared_capacity = sizeof(block_maxima_kernels::block_maxima_shared)};
      // The maxima with one huge element at a time (first, last, middle, a second chunk's first),
      // so that every kernel must read that element.
      for (int64_t spike : {int64_t{0}, n - 1, n / 2, block_maxima_kernels::kRowChunk}) {
        if (spike >= n) continue;
        std::vector<float> xs = x;
        for (float& v : xs) v = std::isfinite(v) ? v : 1.0f;  // no NaN or inf above the spike
        xs[static_cast<size_t>(spike)] = -3e38f;
        const std::vector<uint32_t> want_spiked = maxima_of(xs);
        HostBuffer sb(xs, 0);
        std::vector<uint32_t> spiked(static_cast<size_t>(p.blocks), 0);
        block_maxima_kernels::run_block_maxima(sb.data(), n, p, spiked.data(), 1, launch);
        EXPECT_EQ(spiked, want_spiked) << label << ", element " << spike << " the largest";
      }
      HostBuffer xb(x, 0), out(n, 0), mb(n, 0);
      std::vector<uint32_t> maxima(static_cast<size_t>(p.blocks), 0);
      block_maxima_kernels::run_block_maxima(xb.data(), n, p, maxima.data(), 1, launch);
      EXPECT_EQ(maxima, want_maxima) << label;
      const CpuQuantize want(x, shape, number, r);
      unsigned long long counts[2] = {0, 0};
      const kernels::BlockLookup blocks{.maxima = maxima.data(),
                                        .group_in_one_block = p.blocks == 1 || p.inner % 4 == 0,
                                        .index32 = true,
                                        .self_scaled = false};
      with_round_kind(p.kind, [&](auto kind) {
        constexpr RoundKind K = decltype(kind)::value;
        cuda_emulation::launch(kernels::quantize_kernel<QuantFamily::Block, K, true>, dim3(2), dim3(kernels::kThreads),
                               static_cast<const float*>(xb.data()), out.data(), mb.data(), n, p, kSeed, kOffset,
                               blocks, static_cast<unsigned long long*>(counts));
      });
      expect_same_bits(out.values(), want.out, label);
      expect_same_bits(mb.values(), want.mask, label + " mask");
      expect_counts(counts, want.stats, label);
    }
}

TEST(QuantizeKernelsEmulated, EveryFamilyThroughTheDispatchGivesTheCpuBits) {
  // One case per branch of kernels::run_quantize.
  struct Case {
    Shape shape;
    Number number;
    const char* path;
  };
  const Case cases[] = {
      {{1000}, FixedPoint{.wl = 8, .fl = 6}, "fixed: quantize_kernel"},
      {{1001}, FloatingPoint{.exp = 5, .man = 2}, "float: quantize_kernel"},
      {{37}, BlockFloatingPoint{.wl = 6, .dim = 0}, "block, one element per block: quantize_kernel"},
      {{4, 300}, BlockFloatingPoint{.wl = 6, .dim = 0}, "block rows: segments_kernel"},
      {{9, 1024}, BlockFloatingPoint{.wl = 6, .dim = 0}, "block rows of 1024, a warp each: 9 rows in two CUDA blocks"},
      {{3, 1028}, BlockFloatingPoint{.wl = 6, .dim = 0}, "block rows of 1028, a CUDA block each"},
      {{6, 10, 3}, BlockFloatingPoint{.wl = 6, .dim = 1}, "block, two passes"},
      {{9000, 2}, BlockFloatingPoint{.wl = 6, .dim = 0}, "block, two passes (global atomics)"},
      {{4, 64}, MXFormat{.element = MXElement::E4M3, .block = 32}, "MX"},
      {{3, 41}, NVFP4Format{}, "NVFP4, after its tensor maximum"},
  };
  uint32_t seed = 900;
  for (const Case& c : cases)
    for (Rounding r : {Rounding::Stochastic, Rounding::Nearest})
      expect_dispatch_gives_the_cpu_bits(mixed(numel_of(c.shape), seed++), c.shape, c.number, r,
                                         shape_str(c.shape) + " " + qtorch::to_string(c.number) + " " +
                                             rounding_name(r) + " (" + c.path + ")");
}

TEST(QuantizeKernelsEmulated, MicroscalingEveryLayoutGivesTheCpuBits) {
  struct Case {
    Shape shape;
    Number number;
    const char* kernel;  // which kernel launch_blocks picks for it
  };
  const Case cases[] = {
      {{4, 64}, MXFormat{.element = MXElement::E4M3, .block = 32}, "aligned"},
      {{2, 48}, MXFormat{.element = MXElement::E2M1, .block = 16}, "aligned"},
      {{3, 128}, MXFormat{.element = MXElement::Int8, .block = 128}, "aligned"},
      {{5, 24}, NVFP4Format{.block = 8}, "aligned"},
      {{64, 1024}, MXFormat{.element = MXElement::E4M3, .block = 32}, "aligned, two rounds of the counted grid"},
      {{3, 40}, NVFP4Format{}, "short (a short last block)"},
      {{3, 41}, NVFP4Format{}, "short (n not a multiple of 4)"},
      {{7, 10}, MXFormat{.element = MXElement::E5M2, .block = 3}, "short"},
      {{2, 33}, MXFormat{.element = MXElement::E3M2, .block = 32}, "short"},
      {{6, 5, 4}, MXFormat{.element = MXElement::E2M3, .block = 2, .axis = 1}, "column"},
      {{3, 300}, MXFormat{.element = MXElement::E4M3, .block = 256}, "column (a long block)"},
      {{4, 20, 3}, NVFP4Format{.block = 16, .axis = 1}, "column"},
  };
  uint32_t seed = 500;
  for (const Case& c : cases)
    for (Rounding r : kRoundings) {
      const int64_t n = numel_of(c.shape);
      std::vector<float> x = mixed(n, seed++);
      // NVFP4's tensor scale comes from its largest finite magnitude: make it the last element,
      // which the tensor-wide pass reads in its tail.
      if (std::holds_alternative<NVFP4Format>(c.number)) x.back() = -7777.0f;
      expect_dispatch_gives_the_cpu_bits(x, c.shape, c.number, r,
                                         shape_str(c.shape) + " " + qtorch::to_string(c.number) + " " +
                                             rounding_name(r) + ", " + c.kernel);
    }
}

TEST(QuantizeKernelsEmulated, NVFP4TensorMaximumReadsEveryElementAndSkipsInfAndNaN) {
  // max_finite_abs_kernel on its grid for one multiprocessor (8 CUDA blocks: a stride of 2048
  // groups of 4): the largest magnitude placed in each part of its reads in turn, each of the
  // four loads of its unrolled step, the groups after it (read one at a time), and the
  // elements past the last whole group; inf and NaN elsewhere.
  namespace mk = microscaling_kernels;
  const int64_t n = 40003;  // 10000 groups and 3 elements
  const unsigned grid = mk::max_finite_grid(n, 1);
  ASSERT_EQ(grid, 8u);
  const int64_t stride = int64_t{grid} * mk::kThreads;
  const int64_t places[] = {0, 4 * stride / 2 + 1, 4 * (stride + 7) + 2, 4 * (2 * stride + 100) + 3,
                            4 * (3 * stride + 2047), 4 * (4 * stride + 5), 4 * 9999 + 1, n - 1};
  std::vector<float> base = mixed(n, 61);
  for (float& v : base) v = std::isfinite(v) ? v : 1.0f;
  base[17] = std::numeric_limits<float>::infinity();
  base[4 * stride + 3] = -std::numeric_limits<float>::infinity();
  base[n - 2] = std::nanf("");
  for (int shift : {0, 1})  // float4 loads, then scalar ones
    for (int64_t place : places) {
      std::vector<float> x = base;
      x[static_cast<size_t>(place)] = -5000.0f;
      HostBuffer xb(x, shift);
      std::vector<uint32_t> result(1, 0u);
      cuda_emulation::launch(mk::max_finite_abs_kernel, dim3(grid), dim3(mk::kThreads),
                             static_cast<const float*>(xb.data()), n, result.data());
      EXPECT_EQ(result[0], float_bits(5000.0f)) << "largest at element " << place << ", shift " << shift;
    }
}

TEST(QuantizeKernelsEmulated, QmatmulGivesTheCpuBits) {
  // The last four with operands scaled past float32's range (products up to about 2^132)
  // or past 2^24 (fixed-point grids finer than float32's step there).
  const char* const options_text[] = {"acc=fp16",
                                      "acc=bf16,mul=e5m2,acc_rounding=stochastic,mul_rounding=stochastic",
                                      "acc=e4m3,fma", "acc=fp16,kahan", "acc=bf16,chunk=8",
                                      "acc=fixed:12:6,mul=fixed:8:4",
                                      "acc=float:8:7,acc_rounding=toward_zero",
                                      "acc=float:8:23,mul=fixed:6:3:noclamp,mul_rounding=down", "acc=e4m3,acc_rounding=up",
                                      "acc=fixed:8:4:noclamp,acc_rounding=up"};
  const int scaled_from = 6;
  struct Size {
    int64_t m, k, n;
  };
  // Two tiles by two with partial edges and two slabs with a partial one; one element.
  const Size sizes[] = {{40, 70, 37}, {1, 1, 1}, {3, 33, 65}};
  uint32_t seed = 900;
  for (int t = 0; t < static_cast<int>(std::size(options_text)); ++t)
    for (const Size& z : sizes) {
      const char* text = options_text[t];
      const MacOptions options = parse_mac(text);
      std::vector<float> a = mixed(z.m * z.k, seed++), b = mixed(z.k * z.n, seed++);
      if (t >= scaled_from) {
        const bool fine = t + 1 == static_cast<int>(std::size(options_text));
        for (size_t i = 0; i < a.size(); ++i) a[i] = fine && i % 2 ? a[i] + 0x1p25f : std::ldexp(a[i], fine ? 0 : 64);
        for (float& x : b) x = fine ? std::round(x * 4.0f) : std::ldexp(x, 64);
      }
      Generator g(kSeed);
      g.set_state(kSeed, kOffset);
      const std::vector<float> want =
          qmatmul_forward(Tensor::from_vector(a, {z.m, z.k}), Tensor::from_vector(b, {z.k, z.n}), options, &g)
              .to_vector();
      std::vector<float> bt(b.size());  // B transposed: [N, K]
      for (int64_t k = 0; k < z.k; ++k)
        for (int64_t j = 0; j < z.n; ++j) bt[static_cast<size_t>(j * z.k + k)] = b[static_cast<size_t>(k * z.n + j)];
      std::vector<float> got(static_cast<size_t>(z.m * z.n), -1.0f);
      qmatmul_kernels::run_qmatmul(a.data(), bt.data(), got.data(), mac_params(options, z.m, z.k, z.n), kSeed, kOffset,
                                   cuda_emulation::Launch{});
      expect_same_bits(got, want,
                       std::string(text) + " " + std::to_string(z.m) + "x" + std::to_string(z.k) + "x" + std::to_string(z.n));
    }
}

}  // namespace
