// OptimLP: the spec's six-step order (docs/numerics.md), shown by cases where another order
// gives a different result; accumulators keep full precision while weights sit on the
// grid; optimizer state quantized after the step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/core/error.h"
#include "qtorch/optim/adam.h"
#include "qtorch/optim/loss_scaler.h"
#include "qtorch/optim/optim_lp.h"
#include "qtorch/optim/quant_fn.h"
#include "qtorch/optim/sgd.h"
#include "qtorch/testing.h"

using namespace qtorch;

namespace {

// Round to the nearest multiple of `step` (ties away from zero), on the host: an
// independent stand-in for a number format.
optim::QuantFn grid(float step) {
  return [step](const Tensor& x) {
    std::vector<float> v = x.to_vector();
    for (float& e : v) e = std::round(e / step) * step;
    return Tensor::from_vector(v, x.shape(), x.device());
  };
}

bool on_grid(const Tensor& t, float step) {
  for (float v : t.to_vector())
    if (std::round(v / step) * step != v) return false;
  return true;
}

Tensor param(float v) { return full({1}, v).requires_grad_(); }

}  // namespace

TEST(OptimLP, GradientIsScaledThenQuantizedAndNotUnscaled) {
  // grad 0.1, scaling 2, grid 1/16: q(0.2) = 3/16. Quantizing before scaling would give
  // q(0.1) * 2 = 0.25; unscaling afterwards would give 3/32.
  Tensor p = param(0);
  auto sgd = std::make_shared<optim::SGD>(std::vector<Tensor>{p}, optim::SGDOptions{.lr = 1.0});
  optim::OptimLP opt(sgd, {}, 2.0, grid(1.0f / 16));
  p.set_grad(full({1}, 0.1f));
  opt.step();
  EXPECT_FLOAT_EQ(p.item(), -3.0f / 16);
  EXPECT_FLOAT_EQ(p.grad().item(), 3.0f / 16);
}

TEST(OptimLP, AccumulatorKeepsPrecisionWhileWeightsSitOnTheGrid) {
  // Each step adds 1/64 to the accumulator (grid 1/1024); the weight is the accumulator
  // rounded to 1/16. Without the accumulator the weight would stay at 0 forever, since
  // q(0 + 1/64) = 0: the order "acc becomes weight, step, acc = acc_quant, weight_quant"
  // is what lets small updates add up.
  Tensor p = param(0);
  auto sgd = std::make_shared<optim::SGD>(std::vector<Tensor>{p}, optim::SGDOptions{.lr = 1.0});
  optim::OptimLP opt(sgd, grid(1.0f / 16), 1.0, {}, {}, grid(1.0f / 1024));
  std::vector<float> weights, accs;
  for (int k = 0; k < 5; ++k) {
    p.set_grad(full({1}, -1.0f / 64));
    opt.step();
    weights.push_back(p.item());
    accs.push_back(opt.accumulator(0).item());
    EXPECT_TRUE(on_grid(p, 1.0f / 16));
  }
  EXPECT_EQ(accs, (std::vector<float>{1 / 64.f, 2 / 64.f, 3 / 64.f, 4 / 64.f, 5 / 64.f}));
  // round(k/4)/16 with ties away from zero: 0, 1/16 (k=2: 0.5 -> 1), 1/16, 1/16, 1/16
  EXPECT_EQ(weights, (std::vector<float>{0, 1 / 16.f, 1 / 16.f, 1 / 16.f, 1 / 16.f}));

  // The same without acc_quant: the weight never moves.
  Tensor w = param(0);
  auto sgd2 = std::make_shared<optim::SGD>(std::vector<Tensor>{w}, optim::SGDOptions{.lr = 1.0});
  optim::OptimLP plain(sgd2, grid(1.0f / 16));
  for (int k = 0; k < 5; ++k) {
    w.set_grad(full({1}, -1.0f / 64));
    plain.step();
  }
  EXPECT_EQ(w.item(), 0.0f);
  EXPECT_FALSE(plain.accumulator(0).defined());
}

TEST(OptimLP, AccumulatorIsQuantizedByAccQuant) {
  // acc_quant itself is coarse (1/8): weight = acc = q8(weight) after the step, and the
  // finer weight_quant (1/64) then leaves it unchanged.
  Tensor p = param(0);
  auto sgd = std::make_shared<optim::SGD>(std::vector<Tensor>{p}, optim::SGDOptions{.lr = 1.0});
  optim::OptimLP opt(sgd, grid(1.0f / 64), 1.0, {}, {}, grid(1.0f / 8));
  p.set_grad(full({1}, -0.1f));
  opt.step();
  EXPECT_FLOAT_EQ(opt.accumulator(0).item(), 0.125f);
  EXPECT_FLOAT_EQ(p.item(), 0.125f);
}

TEST(OptimLP, MomentumIsQuantizedAfterTheStep) {
  // Step 1: buf = 0.1 is used unquantized (p = -0.1), then stored as q(0.1) = 2/16.
  // Step 2: buf = 0.9 * 0.125 + 0.1 = 0.2125, p = -0.3125, stored as q(0.2125) = 3/16.
  Tensor p = param(0);
  auto sgd = std::make_shared<optim::SGD>(std::vector<Tensor>{p},
                                          optim::SGDOptions{.lr = 1.0, .momentum = 0.9});
  optim::OptimLP opt(sgd, {}, 1.0, {}, grid(1.0f / 16));
  std::vector<float> bufs;
  for (int k = 0; k < 2; ++k) {
    p.set_grad(full({1}, 0.1f));
    opt.step();
    if (k == 0) {
      EXPECT_FLOAT_EQ(p.item(), -0.1f);
    }
    opt.for_each_state([&](Tensor& t) { bufs.push_back(t.item()); });
  }
  EXPECT_NEAR(p.item(), -0.3125f, 1e-6);
  EXPECT_EQ(bufs, (std::vector<float>{2 / 16.f, 3 / 16.f}));
}

TEST(OptimLP, AdamMomentsAreQuantized) {
  Tensor p = zeros({4}).requires_grad_();
  auto adam = std::make_shared<optim::Adam>(std::vector<Tensor>{p}, optim::AdamOptions{.lr = 0.01});
  optim::OptimLP opt(adam, grid(1.0f / 256), 1.0, {}, grid(1.0f / 1024));
  for (int k = 0; k < 3; ++k) {
    p.set_grad(Tensor::from_vector({0.3f, -0.7f, 0.05f, 1.1f}, {4}));
    opt.step();
  }
  int seen = 0;
  opt.for_each_state([&](Tensor& t) {
    EXPECT_TRUE(on_grid(t, 1.0f / 1024));
    ++seen;
  });
  EXPECT_EQ(seen, 2);
  EXPECT_TRUE(on_grid(p, 1.0f / 256));
  EXPECT_EQ(opt.step_count(), 3);
}

TEST(OptimLP, ForwardsLearningRateAndChecksArguments) {
  Tensor p = param(0);
  auto sgd = std::make_shared<optim::SGD>(std::vector<Tensor>{p}, optim::SGDOptions{.lr = 0.1});
  optim::OptimLP opt(sgd, grid(0.5f));
  opt.set_lr(0.3);
  EXPECT_DOUBLE_EQ(sgd->lr(), 0.3);
  EXPECT_DOUBLE_EQ(opt.lr(), 0.3);
  EXPECT_THROW(optim::OptimLP(sgd, {}, 0.0), Error);
  EXPECT_THROW(optim::OptimLP(sgd, {}, -1.0), Error);
  EXPECT_THROW(optim::OptimLP(sgd, {}, 1e-60), Error);  // 0 in float32, where it is applied
  EXPECT_THROW(optim::OptimLP(sgd, {}, 1e300), Error);  // infinity in float32
  EXPECT_THROW(optim::OptimLP(nullptr), Error);
  // The groups are the wrapped optimizer's, shared (a copy went stale: a rate written there
  // did nothing, and set_lr did not show in it).
  opt.param_groups()[0].lr = 0.5;
  EXPECT_DOUBLE_EQ(sgd->lr(), 0.5);
  opt.set_lr(0.2);
  EXPECT_DOUBLE_EQ(opt.param_groups()[0].lr, 0.2);
  opt.set_group_lr(0, 0.4);
  EXPECT_DOUBLE_EQ(sgd->param_groups()[0].lr, 0.4);
  optim::OptimLP bad(sgd, [](const Tensor&) { return zeros({3}); });
  p.set_grad(full({1}, 1.0f));
  EXPECT_THROW(bad.step(), Error);
}

TEST(OptimLP, TakesANumberFormatDirectly) {
  // FixedPoint(wl=8, fl=4) with nearest rounding: weights on the 1/16 grid within
  // [-8, 7.9375]; a huge step saturates at the top of the range.
  Tensor p = Tensor::from_vector({0.0f, 7.5f}, {2}).requires_grad_();
  auto sgd = std::make_shared<optim::SGD>(std::vector<Tensor>{p}, optim::SGDOptions{.lr = 1.0});
  optim::OptimLP opt(sgd, optim::quant_fn(FixedPoint{.wl = 8, .fl = 4}, Rounding::Nearest));
  p.set_grad(Tensor::from_vector({-0.2f, -3.0f}, {2}));
  opt.step();
  EXPECT_EQ(p.to_vector(), (std::vector<float>{0.1875f, 7.9375f}));
  EXPECT_THROW(optim::quant_fn(FixedPoint{.wl = 0, .fl = 4}), Error);
}

TEST(OptimLP, BlockScaledFormatsQuantizeEveryRole) {
  // MXFP4 weights (blocks of 32 along the last axis): after a step every weight row sits on
  // its own block's e2m1 grid; NVFP4 momentum likewise stays finite and on a 16-block grid.
  manual_seed(3);
  Tensor w = randn({4, 64}).requires_grad_();
  auto sgd = std::make_shared<optim::SGD>(std::vector<Tensor>{w}, optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  optim::OptimLP opt(sgd, optim::OptimLPOptions{.weight_quant = optim::quant_fn(formats::mxfp4(), Rounding::NearestEven),
                                                .grad_quant = optim::quant_fn(formats::mxfp8_e5m2(), Rounding::Stochastic),
                                                .momentum_quant = optim::quant_fn(formats::nvfp4(), Rounding::NearestEven)});
  w.set_grad(randn({4, 64}));
  opt.step();
  const std::vector<float> values = w.to_vector();
  const std::vector<float> maxima = qtorch::testing::block_maxima(w, formats::mxfp4());
  for (size_t i = 0; i < values.size(); ++i)
    ASSERT_TRUE(qtorch::testing::is_representable(values[i], formats::mxfp4(), maxima[i])) << i << " " << values[i];
  // Weights that changed by less than their block's grid spacing may stay; most moved.
  EXPECT_TRUE(std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); }));
}

// With a LossScaler, the scaler unscales the gradients first (g * 1/scale), then OptimLP
// quantizes the unscaled gradient: the grad format sees the true magnitude, not the scaled one.
TEST(OptimLP, LossScalerUnscalesBeforeTheGradQuantizer) {
  // true grad 0.1; scale 1024: backward gives 102.4. Unscale then quantize to 1/16: 0.125
  // (nearest of 0.1 is 2/16 = 0.125). Quantize-then-unscale would give 102.375 / 1024.
  Tensor p = param(0);
  auto sgd = std::make_shared<optim::SGD>(std::vector<Tensor>{p}, optim::SGDOptions{.lr = 1.0});
  optim::OptimLP opt(sgd, {}, 1.0, grid(1.0f / 16));
  optim::LossScaler scaler({.init_scale = 1024, .dynamic = false});
  scaler.scale(p * 0.1f).backward();
  EXPECT_FLOAT_EQ(p.grad().item(), 102.4f);
  ASSERT_TRUE(scaler.step(opt));
  EXPECT_FLOAT_EQ(p.grad().item(), 0.125f);
  EXPECT_FLOAT_EQ(p.item(), -0.125f);
}

namespace {

/// Three parameters and their gradients, the same every call.
std::vector<Tensor> three_params() {
  return {Tensor::from_vector({0.3f, -1.2f, 0.7f, 2.5f, -0.05f, 0.9f}, {2, 3}).requires_grad_(),
          Tensor::from_vector({0.11f, -0.42f}, {2}).requires_grad_(),
          Tensor::from_vector({-3.0f, 0.001f, 1.5f, 0.25f}, {4}).requires_grad_()};
}

void set_grads(std::vector<Tensor>& params, int step) {
  for (size_t i = 0; i < params.size(); ++i) {
    std::vector<float> g = params[i].to_vector();
    for (size_t k = 0; k < g.size(); ++k) g[k] = std::sin(static_cast<float>(3 * step + 7 * i + k)) * 0.37f;
    params[i].set_grad(Tensor::from_vector(g, params[i].shape()));
  }
}

/// Trains three parameters for 4 steps of SGD with momentum, gradients scaled by 2, every
/// role quantized stochastically by `make(number)`; returns weights, gradients, momentum and
/// accumulators, flattened.
template <class Make>
std::vector<float> train_three(Make make) {
  manual_seed(5);
  std::vector<Tensor> params = three_params();
  auto sgd = std::make_shared<optim::SGD>(params, optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  optim::OptimLP opt(sgd, optim::OptimLPOptions{.weight_quant = make(FixedPoint{.wl = 8, .fl = 5}),
                                                .grad_scaling = 2.0,
                                                .grad_quant = make(FloatingPoint{.exp = 5, .man = 2}),
                                                .momentum_quant = make(BlockFloatingPoint{.wl = 6, .dim = 0}),
                                                .acc_quant = make(FixedPoint{.wl = 16, .fl = 12})});
  for (int step = 0; step < 4; ++step) {
    set_grads(params, step);
    opt.step();
  }
  std::vector<float> out;
  auto append = [&](const Tensor& t) {
    for (float v : t.to_vector()) out.push_back(v);
  };
  for (size_t i = 0; i < params.size(); ++i) {
    append(params[i]);
    append(params[i].grad());
    append(opt.accumulator(i));
  }
  opt.for_each_state(append);
  out.push_back(static_cast<float>(default_generator().offset()));
  return out;
}

}  // namespace

TEST(OptimLP, ListFormGivesTheBitsOfOneTensorAtATime) {
  // quant_fn's list form (one call per role and step) against its one-tensor form alone:
  // stochastic rounding in every role, so any change of order or random offsets shows.
  const std::vector<float> lists = train_three([](const Number& n) { return optim::quant_fn(n); });
  const std::vector<float> singles = train_three([](const Number& n) { return optim::QuantFn(optim::quant_fn(n).one); });
  ASSERT_EQ(lists.size(), singles.size());
  for (size_t i = 0; i < lists.size(); ++i) EXPECT_EQ(lists[i], singles[i]) << "value " << i;
}

TEST(OptimLP, CallsTheListFormOncePerRoleAndStep) {
  std::vector<Tensor> params = three_params();
  auto sgd = std::make_shared<optim::SGD>(params, optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  std::vector<size_t> list_sizes;
  int single_calls = 0;
  auto counted = [&](float step) {
    const optim::QuantFn g = grid(step);
    return optim::QuantFn(
        [&single_calls, g](const Tensor& x) {
          ++single_calls;
          return g(x);
        },
        [&list_sizes, g](const std::vector<Tensor>& xs) {
          list_sizes.push_back(xs.size());
          for (Tensor x : xs) x.copy_(g(x));
        });
  };
  optim::OptimLP opt(sgd, optim::OptimLPOptions{.weight_quant = counted(1.0f / 64),
                                                .grad_quant = counted(1.0f / 256),
                                                .momentum_quant = counted(1.0f / 1024)});
  params[1].set_grad(Tensor());  // no gradient: left out of the gradient list
  set_grads(params, 0);
  params[1].set_grad(Tensor());
  opt.step();
  // Gradients (two have one), weights (three), momentum buffers (two: SGD made none for
  // the parameter without a gradient).
  EXPECT_EQ(list_sizes, (std::vector<size_t>{2, 3, 2}));
  EXPECT_EQ(single_calls, 0);
  for (const Tensor& p : params) EXPECT_TRUE(on_grid(p, 1.0f / 64));
  EXPECT_TRUE(on_grid(params[0].grad(), 1.0f / 256));
  opt.for_each_state([](Tensor& t) { EXPECT_TRUE(on_grid(t, 1.0f / 1024)); });
}
