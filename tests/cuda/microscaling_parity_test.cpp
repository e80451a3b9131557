// CPU vs GPU for the block-scaled formats (MX and NVFP4): every element kind, rounding mode,
// block size and axis, outputs, saturation masks and counts identical bit for bit,
// stochastic rounding included (same generator seed and offsets). The layouts reach each
// kernel of quant/cuda/microscaling_kernels.cuh: aligned blocks (blocks of 4..128
// that tile the last axis), short blocks (at most 32, lines with a partial last block) and
// columns (blocks across an inner axis, or longer than 32). Inputs mix values at many
// scales with grid points, ties, zeros of both signs, subnormals, huge values, inf and NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "qtorch/autograd/reduce.h"
#include "qtorch/core/generator.h"
#include "qtorch/qtorch.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/quant/quantizer.h"
#include "tests/cuda/parity.h"

using namespace qtorch;
using parity::kGpu;

namespace {

const Rounding kRoundings[] = {Rounding::Stochastic, Rounding::Nearest,  Rounding::NearestEven,
                               Rounding::TowardZero, Rounding::Up,       Rounding::Down};

constexpr float kInf = std::numeric_limits<float>::infinity();

/// Every format of the spec's name list, with the given block size and axis.
std::vector<Number> every_format(int block, int axis) {
  std::vector<Number> out;
  for (MXFormat f : {formats::mxfp8(), formats::mxfp8_e5m2(), formats::mxfp6(),
                     formats::mxfp6_e3m2(), formats::mxfp4(), formats::mxint8()}) {
    f.block = block;
    f.axis = axis;
    out.push_back(f);
  }
  out.push_back(NVFP4Format{.block = block, .axis = axis});
  return out;
}

/// Random values whose magnitude changes every few elements (so blocks get different
/// scales and a wide range inside), grid points and ties of the coarse element grids, and
/// with `specials` zeros, subnormals, huge values, inf and NaN.
Tensor mixed_input(const Shape& shape, uint32_t seed, bool specials) {
  const int64_t n = numel_of(shape);
  std::vector<float> v = parity::random_cpu({n}, seed, -1, 1).to_vector();
  // Magnitudes from 2^-20 to 2^20, changing every 5 elements, in alternate stretches of 160
  // (the others stay in (-1, 1)).
  for (int64_t i = 0; i < n; ++i)
    if ((i / 160) % 2 == 0)
      v[static_cast<size_t>(i)] = std::ldexp(v[static_cast<size_t>(i)], static_cast<int>((i / 5) % 41) - 20);
  // Multiples of 1/16 and the midpoints between them: on the grid and ties for the small
  // element formats in blocks of small magnitude.
  for (int64_t i = 7; i < n; i += 13) v[static_cast<size_t>(i)] = static_cast<float>(i % 64 - 32) / 16.0f;
  for (int64_t i = 11; i < n; i += 17) v[static_cast<size_t>(i)] = (static_cast<float>(i % 64 - 32) + 0.5f) / 16.0f;
  if (specials) {
    const float fixed[] = {0.0f,   -0.0f,  1e-40f, -1e-40f, 1e-45f, 3.0e38f, -3.0e38f,
                           std::numeric_limits<float>::max(), 448.0f, 464.0f, 6.0f, -7.0f,
                           kInf,   -kInf,  std::nanf("")};
    const int64_t stride = n / 16 > 1 ? n / 16 : 1;
    int64_t i = 3;
    for (float f : fixed) {
      if (i < n) v[static_cast<size_t>(i)] = f;
      i += stride;
    }
  }
  return Tensor::from_vector(v, shape);
}

/// Quantizes on both devices with the same generator state; compares out, mask, stats.
void check(const Tensor& x_cpu, const Tensor& x_gpu, const Number& number, Rounding rounding,
           const std::string& what) {
  Generator gc(2024), gg(2024);
  gc.set_state(2024, 77);
  gg.set_state(2024, 77);
  Tensor mask_c, mask_g;
  QuantStats sc, sg;
  Tensor yc = quant::quantize(x_cpu, number, rounding, {.generator = &gc, .stats = &sc, .mask = &mask_c});
  Tensor yg = quant::quantize(x_gpu, number, rounding, {.generator = &gg, .stats = &sg, .mask = &mask_g});
  const std::string label = what + " " + shape_str(x_cpu.shape()) + " " + qtorch::to_string(number) +
                            " " + rounding_name(rounding);
  ASSERT_TRUE(yg.device().is_cuda()) << label;
  parity::expect_same_bits(yc, yg, label);
  parity::expect_same_bits(mask_c, mask_g, label + " mask");
  EXPECT_EQ(sc.clamped, sg.clamped) << label;
  EXPECT_EQ(sc.flushed, sg.flushed) << label;
  EXPECT_EQ(sc.numel, sg.numel) << label;
  EXPECT_EQ(gc.offset(), gg.offset()) << label << ": both devices must reserve the same blocks";
  // Without mask and stats (no counters, no mask stores): the same bits.
  gg.set_state(2024, 77);
  parity::expect_same_bits(yc, quant::quantize(x_gpu, number, rounding, {.generator = &gg}),
                           label + " (no mask, no stats)");
}

void check_every_rounding(const Tensor& x, const Number& number, const std::string& what) {
  const Tensor xg = x.to(kGpu);
  for (Rounding r : kRoundings) check(x, xg, number, r, what);
}

}  // namespace

TEST(CudaMicroscaling, EveryFormatBlockAxisAndRounding) {
  QTORCH_REQUIRE_CUDA();
  struct Layout {
    Shape shape;
    int axis;
    const char* what;
  };
  const Layout layouts[] = {
      {{6, 128}, -1, "last axis, whole blocks"},
      {{5, 100}, -1, "last axis, partial last blocks"},
      {{1001}, -1, "one line, partial last block"},
      {{37, 6}, 0, "axis 0"},
      {{3, 45, 5}, 1, "middle axis"},
  };
  uint32_t seed = 100;
  for (const Layout& l : layouts)
    for (int block : {32, 16, 7, 1})
      for (bool specials : {false, true}) {
        const Tensor x = mixed_input(l.shape, seed++, specials);
        for (const Number& f : every_format(block, l.axis))
          check_every_rounding(x, f, std::string(l.what) + (specials ? " with specials" : ""));
      }
}

TEST(CudaMicroscaling, EveryKernelPath) {
  QTORCH_REQUIRE_CUDA();
  struct Case {
    Shape shape;
    int block, axis;
    const char* path;
  };
  const Case cases[] = {
      {{8, 64}, 4, -1, "aligned, 1 lane per block"},
      {{8, 64}, 8, -1, "aligned, 2 lanes per block"},
      {{4, 128}, 64, -1, "aligned, 16 lanes per block"},
      {{4, 256}, 128, -1, "aligned, 32 lanes per block"},
      {{3, 40}, 4, -1, "aligned, tiles past the end of the tensor"},
      {{9, 33}, 32, -1, "short, 33 = 32 + 1"},
      {{9, 31}, 2, -1, "short, blocks of 2"},
      {{9, 31}, 3, -1, "short, blocks of 3 on 4 lanes"},
      {{7, 24}, 12, -1, "short, whole blocks that are not a power of two"},
      {{11, 13}, 13, -1, "short, one block per line"},
      {{5, 100}, 33, -1, "columns, blocks of 33 along the last axis"},
      {{3, 300}, 256, -1, "columns, long blocks"},
      {{64, 40}, 32, 0, "columns, inner 40"},
      {{2, 70, 300}, 16, 1, "columns, inner 300"},
      {{1}, 32, -1, "one element"},
  };
  uint32_t seed = 200;
  for (const Case& c : cases) {
    const Tensor x = mixed_input(c.shape, seed++, true);
    for (const Number& f : every_format(c.block, c.axis)) check_every_rounding(x, f, c.path);
  }
}

TEST(CudaMicroscaling, SpecialBlocks) {
  QTORCH_REQUIRE_CUDA();
  const float sub = 1e-40f, tiny = 1e-45f, big = std::numeric_limits<float>::max();
  const float nan = std::nanf("");
  // One row of 8 per case; blocks of 8 along the last axis, then the transpose (axis 0).
  const std::vector<float> rows = {
      0.0f,  -0.0f, 0.0f,  0.0f,   -0.0f, 0.0f,  0.0f,   -0.0f,   // all zeros
      sub,   -sub,  tiny,  -tiny,  0.0f,  sub,   -0.0f,  tiny,    // subnormal maximum
      1.0f,  nan,   -2.0f, 0.5f,   0.0f,  -0.0f, 3.0f,   sub,     // NaN in the block
      kInf,  1.0f,  0.25f, -0.0f,  sub,   2.0f,  -3.0f,  1e-30f,  // inf in the block
      -kInf, 6.0f,  5.0f,  -5.5f,  0.0f,  1.0f,  0.75f,  -1.25f,  // -inf in the block
      big,   -big,  1e30f, 1.0f,   1e-30f, 0.0f, -0.0f,  sub,     // float32's largest
      448.0f, 464.0f, -480.0f, 7.5f, 7.75f, 28.0f, 30.0f, 57344.0f,  // element maxima and beyond
      0.25f, 0.75f, 1.25f, 1.75f,  2.5f,  3.5f,  5.0f,   -6.0f,   // E2M1 ties at max 6
  };
  const int64_t nrows = static_cast<int64_t>(rows.size()) / 8;
  const Tensor x = Tensor::from_vector(rows, {nrows, 8});
  const Tensor xt = x.transpose(0, 1).contiguous();
  for (int block : {8, 3, 1}) {
    for (const Number& f : every_format(block, -1)) check_every_rounding(x, f, "special rows");
    for (const Number& f : every_format(block, 0)) check_every_rounding(xt, f, "special columns");
  }
  // NVFP4's tensor scale g: zero (no finite nonzero value), subnormal, from a tensor whose
  // largest magnitude is inf (only finite values count), and float32's largest.
  const std::vector<std::vector<float>> tensors = {
      {0.0f, -0.0f, 0.0f, nan, kInf, -0.0f, 0.0f, 0.0f},
      {sub, -sub, tiny, 0.0f, -tiny, sub, 1e-39f, -1e-41f},
      {kInf, 1.0f, -2.0f, 0.5f, nan, 3.0f, -kInf, 0.125f},
      {big, -1.0f, 1e-20f, 1e30f, -big, 0.0f, 2.0f, 1e-45f},
  };
  for (const std::vector<float>& t : tensors) {
    const Tensor xs = Tensor::from_vector(t, {8});
    for (int block : {16, 4, 1}) check_every_rounding(xs, NVFP4Format{.block = block}, "nvfp4 tensor scale");
  }
}

TEST(CudaMicroscaling, MisalignedInputAndInPlace) {
  QTORCH_REQUIRE_CUDA();
  const Tensor base = mixed_input({4097}, 300, true);
  // Starts 4 bytes in: the aligned-blocks kernel cannot use 16-byte accesses.
  const Tensor x = base.slice(0, 1, 4097);
  const Tensor xg = base.to(kGpu).slice(0, 1, 4097);
  for (Rounding r : kRoundings) {
    check(x, xg, formats::mxfp8(), r, "misaligned");
    check(x, xg, formats::nvfp4(), r, "misaligned");
  }
  // In place (out == x) gives the same bits as out of place, on every kernel.
  const Shape shapes[] = {{64, 64}, {64, 50}, {50, 64}};
  for (const Shape& shape : shapes) {
    for (const Number& f : {Number{formats::mxfp4()}, Number{MXFormat{.block = 32, .axis = 0}},
                            Number{formats::nvfp4()}}) {
      const Tensor a = mixed_input(shape, 301, true).to(kGpu);
      Generator g1(9), g2(9);
      const Tensor expect = quant::quantize(a, f, Rounding::Stochastic, {.generator = &g1});
      quant::quantize_into(a, a, f, Rounding::Stochastic, {.generator = &g2});
      parity::expect_same_bits(expect, a, "in place " + qtorch::to_string(f) + " " + shape_str(shape));
    }
  }
}

TEST(CudaMicroscaling, LargeTensors) {
  QTORCH_REQUIRE_CUDA();
  // Millions of elements: several grid-stride rounds per warp, Philox counters past 2^20
  // blocks, counts past 2^16.
  const Tensor rows = parity::random_cpu({4096, 1024}, 400, -100.0f, 100.0f);
  const Tensor rows_g = rows.to(kGpu);
  for (Rounding r : {Rounding::Stochastic, Rounding::NearestEven}) {
    check(rows, rows_g, formats::mxfp8(), r, "large, aligned");
    check(rows, rows_g, formats::mxfp4(), r, "large, aligned");
    check(rows, rows_g, formats::nvfp4(), r, "large, aligned");
    check(rows, rows_g, MXFormat{.element = MXElement::E4M3, .block = 32, .axis = 0}, r, "large, columns");
  }
  const Tensor ragged = mixed_input({65537, 48}, 401, true);
  const Tensor ragged_g = ragged.to(kGpu);
  check(ragged, ragged_g, formats::mxfp8(), Rounding::Stochastic, "large, partial blocks");
  check(ragged, ragged_g, formats::mxint8(), Rounding::Nearest, "large, partial blocks");
  check(ragged, ragged_g, NVFP4Format{.block = 7}, Rounding::Stochastic, "large, partial blocks");
}

TEST(CudaMicroscaling, QuantizerOpForwardAndBackward) {
  QTORCH_REQUIRE_CUDA();
  // MX forward, NVFP4 gradients masked by the forward saturation: identical on both devices.
  auto make = [] {
    return quant::quantizer({.forward_number = formats::mxfp6(),
                             .backward_number = formats::nvfp4(),
                             .clamping_grad_zero = true,
                             .generator = std::make_shared<Generator>(31)});
  };
  const Tensor x = mixed_input({33, 50}, 500, false);
  const Tensor w = parity::random_cpu({33, 50}, 501);
  Tensor xc = x.clone().requires_grad_(true);
  Tensor xg = x.to(kGpu).requires_grad_(true);
  auto qc = make(), qg = make();
  Tensor yc = qc(xc), yg = qg(xg);
  parity::expect_same_bits(yc, yg, "quantizer forward");
  sum(yc * w).backward();
  sum(yg * w.to(kGpu)).backward();
  parity::expect_same_bits(xc.grad(), xg.grad(), "quantizer backward");
}
