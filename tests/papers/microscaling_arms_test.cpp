// Part 7 (examples/papers/exp7_microscaling.cpp): the arms are what their names claim, and the
// mechanism behind (b)-(d) on one hand-computed block. No training; a fraction of a second.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "qtorch/core/generator.h"
#include "qtorch/core/tensor.h"
#include "qtorch/quant/number.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/train/recipe.h"
#include "examples/papers/experiments.h"

namespace {

using qtorch::MXElement;
using qtorch::MXFormat;
using qtorch::NVFP4Format;
using qtorch::Rounding;
using qtorch::Tensor;
using qtorch::train::Role;
using qtorch::train::RoleFormat;

const qrepro::ArmConfig& arm(const std::vector<qrepro::ArmConfig>& arms, const std::string& name) {
  for (const auto& a : arms)
    if (a.name == name) return a;
  throw std::runtime_error("no arm " + name);
}

RoleFormat mx(MXElement e, Rounding r) { return {qtorch::Number(MXFormat{.element = e, .block = 32, .axis = -1}), r}; }
RoleFormat nv(Rounding r) { return {qtorch::Number(NVFP4Format{.block = 16, .axis = -1}), r}; }

// W, A, E, G as given; momentum and accumulator float32, a float32 master copy, no loss scaling.
void expect_roles(const qrepro::ArmConfig& a, const RoleFormat& w, const RoleFormat& act, const RoleFormat& e,
                  const RoleFormat& g) {
  SCOPED_TRACE(a.name);
  const auto& r = a.recipe;
  EXPECT_EQ(r[Role::Weight], w);
  EXPECT_EQ(r[Role::Activation], act);
  EXPECT_EQ(r[Role::Error], e);
  EXPECT_EQ(r[Role::Grad], g);
  // operator== ignores the rounding of an unquantized role only: compare it too.
  for (Role role : {Role::Weight, Role::Activation, Role::Error, Role::Grad}) {
    const RoleFormat& want = role == Role::Weight ? w : role == Role::Activation ? act : role == Role::Error ? e : g;
    EXPECT_EQ(r[role].rounding, want.rounding) << qtorch::train::role_name(role);
  }
  EXPECT_FALSE(r[Role::Momentum].quantized());
  EXPECT_FALSE(r[Role::Acc].quantized());
  EXPECT_TRUE(r.master_weights);
  EXPECT_EQ(r.loss_scaling.kind, qtorch::train::LossScaling::Kind::None);
}

// Every arm of a part: the same model, data, hyperparameters and seed; only the recipe differs.
void expect_paired(const std::vector<qrepro::ArmConfig>& arms) {
  const auto& f = arms.front();
  EXPECT_EQ(f.name, "fp32");
  for (Role role : qtorch::train::kRoles) EXPECT_FALSE(f.recipe[role].quantized());
  EXPECT_FALSE(f.recipe.master_weights);
  for (const auto& a : arms) {
    SCOPED_TRACE(a.name);
    EXPECT_EQ(a.model, f.model);
    EXPECT_EQ(a.input, f.input);
    EXPECT_EQ(a.limit_train, f.limit_train);
    EXPECT_EQ(a.training.epochs, f.training.epochs);
    EXPECT_EQ(a.training.batch_size, f.training.batch_size);
    EXPECT_EQ(a.training.optimizer.lr, f.training.optimizer.lr);
    EXPECT_EQ(a.training.optimizer.momentum, f.training.optimizer.momentum);
    EXPECT_EQ(a.training.seed, f.training.seed);
    EXPECT_EQ(a.recipe.quantize_after, f.recipe.quantize_after);
  }
}

TEST(PapersMicroscaling, Part7aArmsAreTheMxfp8AndMxfp6Presets) {
  const auto arms = qrepro::microscaling_arms_7a({});
  ASSERT_EQ(arms.size(), 3u);
  expect_paired(arms);
  const Rounding ne = Rounding::NearestEven;
  expect_roles(arm(arms, "MXFP8"), mx(MXElement::E4M3, ne), mx(MXElement::E4M3, ne), mx(MXElement::E5M2, ne),
               mx(MXElement::E5M2, ne));
  expect_roles(arm(arms, "MXFP6"), mx(MXElement::E2M3, ne), mx(MXElement::E2M3, ne), mx(MXElement::E3M2, ne),
               mx(MXElement::E3M2, ne));
  // The library's presets, unchanged but for the quantized initial weights of the harness.
  for (auto [name, preset] : {std::pair{"MXFP8", "mxfp8"}, std::pair{"MXFP6", "mxfp6"}}) {
    qtorch::train::Recipe r = qtorch::train::preset(preset);
    r.quantize_initial_weights = true;
    EXPECT_EQ(arm(arms, name).recipe, r) << name;
  }
  EXPECT_EQ(*qtorch::parse_number("mxfp8"), qtorch::Number(MXFormat{.element = MXElement::E4M3}));
  EXPECT_EQ(*qtorch::parse_number("mxfp8_e5m2"), qtorch::Number(MXFormat{.element = MXElement::E5M2}));
}

TEST(PapersMicroscaling, Part7bDirectCastIsNearestEvenEverywhereSrOnlyOnErrorAndGrad) {
  const auto arms = qrepro::microscaling_arms_7b({});
  ASSERT_EQ(arms.size(), 5u);
  expect_paired(arms);
  const Rounding ne = Rounding::NearestEven, sr = Rounding::Stochastic;
  const RoleFormat mx4 = mx(MXElement::E2M1, ne), mx4sr = mx(MXElement::E2M1, sr);
  expect_roles(arm(arms, "MXFP4 nearest"), mx4, mx4, mx4, mx4);
  expect_roles(arm(arms, "MXFP4 SR backward"), mx4, mx4, mx4sr, mx4sr);
  expect_roles(arm(arms, "NVFP4 nearest"), nv(ne), nv(ne), nv(ne), nv(ne));
  expect_roles(arm(arms, "NVFP4 SR backward"), nv(ne), nv(ne), nv(sr), nv(sr));
  for (auto [name, preset] : {std::pair{"MXFP4 nearest", "mxfp4"}, std::pair{"NVFP4 nearest", "nvfp4"}}) {
    qtorch::train::Recipe r = qtorch::train::preset(preset);
    r.quantize_initial_weights = true;
    EXPECT_EQ(arm(arms, name).recipe, r) << name;
  }
  EXPECT_EQ(*qtorch::parse_number("mxfp4"), qtorch::Number(MXFormat{.element = MXElement::E2M1}));
  EXPECT_EQ(*qtorch::parse_number("nvfp4"), qtorch::Number(NVFP4Format{}));
}

// One block, quantized by the error quantizers of the 7b arms: x = {1, 0.3, 0.1, 0.05, -0.7,
// then zeros} (32 elements).
// MXFP4: amax 1 gives the scale 2^(floor(log2 1) - 2) = 1/4, so x/X = {4, 1.2, 0.4, 0.2, -2.8};
// on the E2M1 grid {0, 0.5, 1, 1.5, 2, 3, 4, 6} nearest-even gives {4, 1, 0.5, 0, -3}, that is
// {1, 0.25, 0.125, 0, -0.75}: 0.05 (1/20 of the block's largest value) is flushed to zero.
// NVFP4 (blocks of 16): the tensor scale g = 1/2688 and the block scale S = e4m3(1 / (6 g)) =
// 448 map the block's largest value to 6, so x/(S g) = 6x = {6, 1.8, 0.6, 0.3, -4.2} rounds to
// {6, 2, 0.5, 0.5, -4}, that is {1, 1/3, 1/12, 1/12, -2/3}: nothing is flushed, and the squared
// error is less than half (0.0036 against 0.0081).
TEST(PapersMicroscaling, NearestMxfp4FlushesWhatNvfp4KeepsAndStochasticIsUnbiased) {
  const auto arms = qrepro::microscaling_arms_7b({});
  std::vector<float> x(32, 0.0f);
  x[0] = 1.0f, x[1] = 0.3f, x[2] = 0.1f, x[3] = 0.05f, x[4] = -0.7f;
  const Tensor t = Tensor::from_vector(x, {32});
  auto error_quantized = [&](const std::string& name) {
    const RoleFormat& e = arm(arms, name).recipe[Role::Error];
    return qtorch::quant::quantize(t, *e.number, e.rounding).to_vector();
  };
  const std::vector<float> mxq = error_quantized("MXFP4 nearest");
  const std::vector<float> mx_want = {1.0f, 0.25f, 0.125f, 0.0f, -0.75f};
  for (size_t i = 0; i < mx_want.size(); ++i) EXPECT_EQ(mxq[i], mx_want[i]) << i;
  const std::vector<float> nvq = error_quantized("NVFP4 nearest");
  const std::vector<double> nv_want = {1.0, 1.0 / 3, 1.0 / 12, 1.0 / 12, -2.0 / 3};
  for (size_t i = 0; i < nv_want.size(); ++i) EXPECT_NEAR(nvq[i], nv_want[i], 1e-6) << i;
  for (size_t i = 5; i < 32; ++i) {
    EXPECT_EQ(mxq[i], 0.0f) << i;
    EXPECT_EQ(nvq[i], 0.0f) << i;
  }
  double se_mx = 0, se_nv = 0;
  for (size_t i = 0; i < 5; ++i) {
    se_mx += (mxq[i] - x[i]) * (mxq[i] - x[i]);
    se_nv += (nvq[i] - x[i]) * (nvq[i] - x[i]);
  }
  EXPECT_NEAR(se_mx, 0.008125, 1e-6);
  EXPECT_NEAR(se_nv, 0.0036111, 1e-6);
  EXPECT_LT(se_nv, se_mx);

  // The SR arm's error quantizer: 0.05 (x/X = 0.2) becomes 0.125 with probability 0.4 and 0
  // otherwise, 0.05 on average; 4096 rows of 31 draws give a standard error of 1.7e-4.
  qtorch::manual_seed(7);
  const int64_t rows = 4096;
  std::vector<float> big(size_t(rows) * 32, 0.05f);
  for (int64_t r = 0; r < rows; ++r) big[size_t(r) * 32] = 1.0f;
  const RoleFormat& e = arm(arms, "MXFP4 SR backward").recipe[Role::Error];
  const std::vector<float> q = qtorch::quant::quantize(Tensor::from_vector(big, {rows, 32}), *e.number, e.rounding)
                                   .to_vector();
  double sum = 0;
  int64_t ups = 0, n = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 1; c < 32; ++c) {
      const float v = q[size_t(r * 32 + c)];
      EXPECT_TRUE(v == 0.0f || v == 0.125f) << v;
      sum += v;
      ups += v != 0.0f;
      ++n;
    }
  EXPECT_NEAR(sum / double(n), 0.05, 1e-3);
  EXPECT_GT(ups, 0);
  EXPECT_LT(ups, n);
}

}  // namespace
