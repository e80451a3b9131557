// CPU vs GPU for every quantizer family, format option and rounding mode: outputs, clamp
// masks and counts must be identical bit for bit, stochastic rounding included (same
// generator seed and offsets). Inputs mix random values with grid points, ties, zeros of
// both signs, subnormals, huge values, infinities and NaN; sizes are odd so the GPU's
// 4-element groups have a tail, and one input starts off a 16-byte boundary.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "qtorch/autograd/reduce.h"
#include "qtorch/core/generator.h"
#include "qtorch/qtorch.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/quant/quantizer.h"
#include "qtorch/nn/nn.h"
#include "qtorch/nn/quantizer_module.h"
#include "tests/cuda/parity.h"

using namespace qtorch;
using parity::kGpu;

namespace {

const Rounding kRoundings[] = {Rounding::Stochastic, Rounding::Nearest,  Rounding::NearestEven,
                               Rounding::TowardZero, Rounding::Up,       Rounding::Down};

/// Random values at several scales plus special values; `specials` adds inf and NaN.
Tensor mixed_input(int64_t n, uint32_t seed, bool specials) {
  std::vector<float> v = parity::random_cpu({n}, seed, -1, 1).to_vector();
  const float scales[] = {1.0f, 8.0f, 1e-3f, 300.0f, 1e-6f, 1e5f};
  for (size_t i = 0; i < v.size(); ++i) v[i] *= scales[i % 6];
  // Grid points and ties of the coarse formats (multiples of 1/16 and their midpoints).
  for (size_t i = 7; i < v.size(); i += 13) v[i] = static_cast<float>(static_cast<int>(i % 64) - 32) / 16.0f;
  for (size_t i = 11; i < v.size(); i += 17) v[i] = (static_cast<float>(static_cast<int>(i % 64) - 32) + 0.5f) / 16.0f;
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> fixed = {0.0f, -0.0f, 1e-40f, -1e-40f, 1e-45f, 3.0e38f, -3.0e38f,
                              std::numeric_limits<float>::max(), 65504.0f, 65520.0f, 448.0f, 464.0f};
  if (specials) {
    fixed.push_back(inf);
    fixed.push_back(-inf);
    fixed.push_back(std::nanf(""));
  }
  for (size_t i = 0; i < fixed.size() && i * 37 + 3 < v.size(); ++i) v[i * 37 + 3] = fixed[i];
  return Tensor::from_vector(v, {n});
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
  std::string label = what + " " + qtorch::to_string(number) + " " + rounding_name(rounding);
  ASSERT_TRUE(yg.device().is_cuda()) << label;
  parity::expect_same_bits(yc, yg, label);
  parity::expect_same_bits(mask_c, mask_g, label + " mask");
  EXPECT_EQ(sc.clamped, sg.clamped) << label;
  EXPECT_EQ(sc.flushed, sg.flushed) << label;
  EXPECT_EQ(sc.numel, sg.numel) << label;
  EXPECT_EQ(gc.offset(), gg.offset()) << label << ": both devices must reserve the same blocks";
  // Counted without waiting (StatsCounter, device counters added to over calls): the
  // same counts, summed.
  quant::StatsCounter counter;
  for (int call = 0; call < 2; ++call) {
    gg.set_state(2024, 77);
    quant::quantize(x_gpu, number, rounding, {.generator = &gg, .counter = &counter});
  }
  EXPECT_EQ(counter.read(), (QuantStats{2 * sc.clamped, 2 * sc.flushed, 2 * sc.numel})) << label << " (counter)";
  // Without mask and stats (the kernel's other path): the same bits.
  gg.set_state(2024, 77);
  parity::expect_same_bits(yc, quant::quantize(x_gpu, number, rounding, {.generator = &gg}),
                           label + " (no mask, no stats)");
}

}  // namespace

TEST(CudaQuantize, FixedPointEveryRounding) {
  QTORCH_REQUIRE_CUDA();
  const FixedPoint formats[] = {{.wl = 8, .fl = 4},
                                {.wl = 5, .fl = 4, .symmetric = true},
                                {.wl = 16, .fl = 8, .clamp = false},
                                {.wl = 4, .fl = -2},
                                {.wl = 24, .fl = 20},
                                {.wl = 2, .fl = 140}};
  Tensor x = mixed_input(1001, 1, true);
  Tensor xg = x.to(kGpu);
  for (const FixedPoint& f : formats)
    for (Rounding r : kRoundings) check(x, xg, f, r, "fixed");
}

TEST(CudaQuantize, FloatingPointEveryRoundingAndOption) {
  QTORCH_REQUIRE_CUDA();
  std::vector<FloatingPoint> formats = {
      {.exp = 5, .man = 2},  {.exp = 4, .man = 3},  {.exp = 5, .man = 10}, {.exp = 8, .man = 7},
      {.exp = 8, .man = 23}, {.exp = 2, .man = 0},  {.exp = 3, .man = 1, .subnormals = false},
      {.exp = 5, .man = 2, .saturate = false},
      {.exp = 4, .man = 3, .range = FloatRange::FiniteNaN, .bias = 11},
      formats::fp16(), formats::bf16(), formats::tf32(), formats::fp8_e4m3(), formats::fp8_e5m2()};
  Tensor x = mixed_input(1001, 2, true);
  Tensor xg = x.to(kGpu);
  for (const FloatingPoint& f : formats)
    for (Rounding r : kRoundings) check(x, xg, f, r, "float");
}

TEST(CudaQuantize, BlockFloatingPointEveryLayoutAndRounding) {
  QTORCH_REQUIRE_CUDA();
  struct Case {
    Shape shape;
    int wl, dim;
    const char* path;  // which kernels of quant/cuda/quantize_cuda.cu it takes
  };
  const Case cases[] = {
      {{1001}, 8, -1, "whole tensor, long row"},
      {{64, 33}, 4, 0, "few short rows: row kernel, read twice"},
      {{4096, 33}, 4, 0, "many short rows: two passes, maxima in shared memory"},
      {{301}, 8, 0, "every element its own block (a bias with dim 0)"},
      {{5, 300}, 8, 0, "row kernel (one pass from registers), a warp per row"},
      {{9, 1024}, 8, 0, "rows of 1024, a warp each: two CUDA blocks, the second with one row"},
      {{3, 1028}, 8, 0, "rows of 1028: a CUDA block each"},
      {{3, 8192}, 8, 0, "row kernel, the longest rows it takes"},
      {{2048}, 8, -1, "row kernel, the whole tensor one row"},
      {{256, 64}, 6, 0, "row kernel, many short rows"},
      {{8, 3, 6, 6}, 8, 0, "row kernel, 4-d rows"},
      {{4, 8196}, 8, 0, "rows past 8192: two passes, long rows"},
      {{5, 302}, 8, 0, "rows not a multiple of 4: row kernel, read twice"},
      {{16, 6, 5, 5}, 8, 0, "rows of 150: row kernel, read twice"},
      {{7, 1}, 8, -1, "seven elements, one row: row kernel, read twice"},
      {{3, 50, 7}, 6, 1, "short rows, outer > 1"},
      {{2, 10000}, 8, 1, "more than 8192 blocks: global atomics"},
      {{37, 3}, 24, -1, "wl 24"},
      {{37, 3}, 2, 1, "wl 2"},
  };
  uint32_t seed = 10;
  for (const Case& c : cases) {
    for (bool specials : {false, true}) {
      Tensor x = mixed_input(numel_of(c.shape), seed++, specials).reshape(c.shape);
      Tensor xg = x.to(kGpu);
      for (Rounding r : kRoundings)
        check(x, xg, BlockFloatingPoint{.wl = c.wl, .dim = c.dim}, r,
              std::string("block ") + c.path + (specials ? " with inf/NaN" : ""));
    }
  }
  // Blocks whose largest magnitude is subnormal or zero.
  Tensor tiny = Tensor::from_vector({1e-40f, -3e-41f, 0.0f, 2e-45f, 0.0f, 0.0f, 0.0f, 0.0f}, {2, 4});
  for (Rounding r : kRoundings) check(tiny, tiny.to(kGpu), BlockFloatingPoint{.wl = 8, .dim = 0}, r, "block tiny");
}

TEST(CudaQuantize, MisalignedInputAndInPlace) {
  QTORCH_REQUIRE_CUDA();
  Tensor base = mixed_input(2003, 3, true);
  Tensor x = base.slice(0, 1, 2002);            // starts 4 bytes in: no 16-byte access
  Tensor xg = base.to(kGpu).slice(0, 1, 2002);
  for (Rounding r : kRoundings) {
    check(x, xg, FloatingPoint{.exp = 5, .man = 2}, r, "misaligned");
    check(x, xg, BlockFloatingPoint{.wl = 8}, r, "misaligned");
    // 2000 elements, 4 bytes off a 16-byte boundary: the row kernel reads them twice, scalar.
    check(base.slice(0, 1, 2001), base.to(kGpu).slice(0, 1, 2001), BlockFloatingPoint{.wl = 8}, r,
          "misaligned, row length a multiple of 4");
  }
  // The row kernel in place: each row is read whole before it is written.
  for (Rounding r : kRoundings) {
    Tensor rows = mixed_input(40 * 64, 12, true).reshape({40, 64}).to(kGpu);
    Generator ga(5), gb(5);
    Tensor expect_rows = quant::quantize(rows, BlockFloatingPoint{.wl = 8, .dim = 0}, r, {.generator = &ga});
    quant::quantize_into(rows, rows, BlockFloatingPoint{.wl = 8, .dim = 0}, r, {.generator = &gb});
    parity::expect_same_bits(expect_rows, rows, std::string("block rows in place ") + rounding_name(r));
  }
  // In place (out == x) gives the same bits as out of place.
  Tensor a = base.to(kGpu).clone();
  Generator g1(9), g2(9);
  Tensor expect = quant::quantize(a, FixedPoint{.wl = 8, .fl = 5}, Rounding::Stochastic, {.generator = &g1});
  quant::quantize_into(a, a, FixedPoint{.wl = 8, .fl = 5}, Rounding::Stochastic, {.generator = &g2});
  parity::expect_same_bits(expect, a, "in place");
}

TEST(CudaQuantize, ListInOneLaunchGivesTheBitsOfTheCpuList) {
  QTORCH_REQUIRE_CUDA();
  // quantize_each_in_place on the GPU (quantize_list_cuda: segments of one launch) against
  // the CPU list (the calls one by one). The list takes every path: rows from registers,
  // rows read twice (25, 150 and 350 elements, a misaligned view), a bias (each element its
  // own block), rows past 8192 and blocks across rows (calls of their own), a transposed
  // tensor (copied and written back), an empty tensor, and 46 tensors, more than the 40
  // segments of one launch.
  const Shape shapes[] = {{5, 300}, {6, 1, 5, 5}, {16, 6, 5, 5}, {3, 50, 7}, {256}, {4, 8196}, {0}, {120, 400}};
  const Tensor base = mixed_input(2003, 40, true);
  auto make_list = [&](bool gpu) {
    std::vector<Tensor> xs;
    uint32_t seed = 41;
    for (const Shape& shape : shapes) xs.push_back(mixed_input(numel_of(shape), seed++, true).reshape(shape));
    for (int k = 0; k < 36; ++k) xs.push_back(mixed_input(8 * 3 * (k % 5 + 1), seed++, false).reshape({8, 3 * (k % 5 + 1)}));
    for (Tensor& x : xs) x = gpu ? x.to(kGpu) : x.clone();
    xs.push_back((gpu ? base.to(kGpu) : base.clone()).slice(0, 1, 2001).reshape({40, 50}));
    const Tensor m = mixed_input(40 * 30, 90, true).reshape({40, 30});
    xs.push_back((gpu ? m.to(kGpu) : m.clone()).transpose(0, 1));
    return xs;
  };
  const std::vector<Number> formats = {FixedPoint{.wl = 8, .fl = 4}, formats::fp8_e4m3(),
                                       BlockFloatingPoint{.wl = 8, .dim = 0}, BlockFloatingPoint{.wl = 6, .dim = -1},
                                       MXFormat{}};
  for (const Number& number : formats)
    for (Rounding r : kRoundings) {
      const std::string label = "list " + qtorch::to_string(number) + " " + rounding_name(r);
      std::vector<Tensor> xc = make_list(false), xg = make_list(true);
      ASSERT_EQ(xc.size(), 46u);
      Generator gc(7), gg(7);
      gc.set_state(7, 321);
      gg.set_state(7, 321);
      QuantStats sc, sg;
      quant::StatsCounter cc, cg;
      quant::quantize_each_in_place(xc, number, r, {.generator = &gc, .stats = &sc, .counter = &cc});
      quant::quantize_each_in_place(xg, number, r, {.generator = &gg, .stats = &sg, .counter = &cg});
      for (size_t i = 0; i < xc.size(); ++i) parity::expect_same_bits(xc[i], xg[i], label + " tensor " + std::to_string(i));
      EXPECT_EQ(sc, sg) << label;
      EXPECT_EQ(cc.read(), cg.read()) << label;
      EXPECT_EQ(gc.offset(), gg.offset()) << label;
      // Without stats and counters (the kernels' other path): the same bits.
      std::vector<Tensor> plain = make_list(true);
      gg.set_state(7, 321);
      quant::quantize_each_in_place(plain, number, r, {.generator = &gg});
      for (size_t i = 0; i < xc.size(); ++i)
        parity::expect_same_bits(xc[i], plain[i], label + " (not counted) tensor " + std::to_string(i));
    }
}

TEST(CudaQuantize, LinearThenQuantizerFusedGivesTheBitsOfTheTwoModules) {
  QTORCH_REQUIRE_CUDA();
  // nn::Sequential{layer, Quantizer} and {layer, Quantizer, ReLU} on the GPU: the bias add
  // (and the ReLU) inside the quantizer's pass, and without a backward hook the ReLU's
  // backward inside the backward quantization's, against the modules one by one (a forward
  // hook on each keeps them apart): output and every gradient, for block8 rows and fixed
  // point, after a linear layer and after LeNet's first convolution (the bias on the
  // channels). (Against the CPU the products would differ: cuBLAS and OpenBLAS sum in other
  // orders.)
  for (bool conv : {false, true})
  for (bool relu : {false, true})
  for (bool hook : {false, true})
  for (const Number& number : std::vector<Number>{BlockFloatingPoint{.wl = 8, .dim = 0}, FixedPoint{.wl = 8, .fl = 4}}) {
    if (hook && !relu) continue;  // a hook changes nothing of the bias add's pass
    manual_seed(12);
    nn::ModulePtr layer = conv ? nn::ModulePtr(std::make_shared<nn::Conv2d>(1, 6, 5, nn::Conv2dOptions{.padding = 2}))
                               : nn::ModulePtr(std::make_shared<nn::Linear>(300, 256));
    auto model = [&](const nn::ModulePtr& l) {
      quant::QuantizerOptions o{.forward_number = number, .backward_number = number,
                                .generator = std::make_shared<Generator>(77)};
      if (hook) o.backward_hooks = {[](const Tensor& g) { return g * 2.0f; }};
      std::vector<nn::ModulePtr> modules{l, std::make_shared<nn::Quantizer>(o)};
      if (relu) modules.push_back(std::make_shared<nn::ReLU>());
      return std::make_shared<nn::Sequential>(modules);
    };
    auto fused = model(layer), separate = model(layer->clone());
    for (size_t i = 0; i < separate->size(); ++i)
      (*separate)[i]->register_forward_hook([](nn::Module&, const Tensor&, const Tensor&) { return Tensor(); });
    fused->to(kGpu);
    separate->to(kGpu);
    const Tensor x = parity::random_cpu(conv ? Shape{16, 1, 28, 28} : Shape{64, 300}, 13).to(kGpu);
    const Tensor w = parity::random_cpu(conv ? Shape{16, 6, 28, 28} : Shape{64, 256}, 14).to(kGpu);
    Tensor x1 = x.clone().requires_grad_(true), x2 = x.clone().requires_grad_(true);
    Tensor y1 = (*fused)(x1), y2 = (*separate)(x2);
    EXPECT_EQ(y1.grad_fn_name(), relu ? "quantizer_bias_add_relu" : "quantizer_bias_add");
    EXPECT_EQ(y2.grad_fn_name(), relu ? "relu" : "quantizer");
    const std::string label = (conv ? "conv, " : "linear, ") + qtorch::to_string(number) + (relu ? ", relu" : "") +
                              (hook ? ", hooked" : "");
    parity::expect_same_bits(y2, y1, label + " forward");
    sum(y1 * w).backward();
    sum(y2 * w).backward();
    parity::expect_same_bits(x2.grad(), x1.grad(), label + " input gradient");
    const std::vector<Tensor> p1 = fused->parameters(), p2 = separate->parameters();
    for (size_t i = 0; i < p1.size(); ++i)
      parity::expect_same_bits(p2[i].grad(), p1[i].grad(), label + " parameter gradient " + std::to_string(i));
  }
}

TEST(CudaQuantize, LargeTensorStochasticBitsMatch) {
  QTORCH_REQUIRE_CUDA();
  // Several grid-stride iterations per thread, Philox counters past 2^20 blocks.
  Tensor x = parity::random_cpu({(1 << 22) + 5}, 4);
  Tensor xg = x.to(kGpu);
  check(x, xg, FixedPoint{.wl = 8, .fl = 6}, Rounding::Stochastic, "large");
  check(x, xg, FloatingPoint{.exp = 4, .man = 3}, Rounding::Stochastic, "large");
  check(x, xg, BlockFloatingPoint{.wl = 8}, Rounding::Stochastic, "large");
}

TEST(CudaQuantize, QuantizerOpForwardAndBackward) {
  QTORCH_REQUIRE_CUDA();
  // The straight-through op: forward values, and gradients quantized and masked by the
  // forward clamp, identical on both devices for the same generator seed.
  auto make = [](const std::shared_ptr<quant::StatsCounter>& forward, const std::shared_ptr<quant::StatsCounter>& backward) {
    return quant::quantizer({.forward_number = FixedPoint{.wl = 6, .fl = 3},
                             .backward_number = FloatingPoint{.exp = 5, .man = 2},
                             .clamping_grad_zero = true,
                             .generator = std::make_shared<Generator>(31),
                             .forward_counter = forward,
                             .backward_counter = backward});
  };
  auto forward_c = std::make_shared<quant::StatsCounter>(), backward_c = std::make_shared<quant::StatsCounter>();
  auto forward_g = std::make_shared<quant::StatsCounter>(), backward_g = std::make_shared<quant::StatsCounter>();
  Tensor x = mixed_input(999, 5, false);
  Tensor w = parity::random_cpu({999}, 6);
  Tensor xc = x.clone().requires_grad_(true);
  Tensor xg = x.to(kGpu).requires_grad_(true);
  auto qc = make(forward_c, backward_c), qg = make(forward_g, backward_g);
  Tensor yc = qc(xc), yg = qg(xg);
  parity::expect_same_bits(yc, yg, "quantizer forward");
  sum(yc * w).backward();
  sum(yg * w.to(kGpu)).backward();
  parity::expect_same_bits(xc.grad(), xg.grad(), "quantizer backward");
  EXPECT_EQ(forward_c->read(), forward_g->read());
  EXPECT_EQ(backward_c->read(), backward_g->read());
  EXPECT_GT(forward_c->read().clamped, 0);  // mixed_input holds values past fixed <6,3>'s range
}
