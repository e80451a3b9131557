// Part 8 (examples/papers/exp8_accumulation.cpp): the arms carry the multiply-accumulate
// options their names claim, on the layers they claim, and the swamping behind 8a and 8b on
// hand-computed sums. No training; a fraction of a second.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "qtorch/core/tensor.h"
#include "qtorch/nn/linear.h"
#include "qtorch/nn/module.h"
#include "qtorch/nn/qlinear.h"
#include "qtorch/quant/mac.h"
#include "qtorch/quant/number.h"
#include "examples/papers/experiments.h"

namespace {

using qtorch::FloatingPoint;
using qtorch::Rounding;
using qtorch::Tensor;
using qtorch::quant::MacOptions;
using qtorch::train::Role;

const qrepro::ArmConfig& arm(const std::vector<qrepro::ArmConfig>& arms, const std::string& name) {
  for (const auto& a : arms)
    if (a.name == name) return a;
  throw std::runtime_error("no arm " + name);
}

// Every Linear layer of a model, depth first, in order.
std::vector<const qtorch::nn::Linear*> linears(const qtorch::nn::Module& m) {
  std::vector<const qtorch::nn::Linear*> out;
  for (const auto& [name, child] : m.named_children()) {
    if (auto* l = dynamic_cast<const qtorch::nn::Linear*>(child.get())) out.push_back(l);
    else
      for (auto* l2 : linears(*child)) out.push_back(l2);
  }
  return out;
}

// The same model, data, hyperparameters and seed in every arm; only float32 roles.
void expect_paired(const std::vector<qrepro::ArmConfig>& arms, const qrepro::ArmConfig& ref) {
  for (const auto& a : arms) {
    SCOPED_TRACE(a.name);
    EXPECT_EQ(a.model, ref.model);
    EXPECT_EQ(a.input, ref.input);
    EXPECT_EQ(a.input_pool, 1);
    EXPECT_EQ(a.limit_train, ref.limit_train);
    EXPECT_EQ(a.limit_test, -1);
    EXPECT_EQ(a.training.epochs, ref.training.epochs);
    EXPECT_EQ(a.training.batch_size, ref.training.batch_size);
    EXPECT_EQ(a.training.optimizer.lr, ref.training.optimizer.lr);
    EXPECT_EQ(a.training.optimizer.momentum, ref.training.optimizer.momentum);
    EXPECT_EQ(a.training.seed, ref.training.seed);
    for (Role role : qtorch::train::kRoles) EXPECT_FALSE(a.recipe[role].quantized()) << qtorch::train::role_name(role);
    EXPECT_FALSE(a.recipe.master_weights);
    EXPECT_EQ(a.recipe.loss_scaling.kind, qtorch::train::LossScaling::Kind::None);
  }
}

// Products (when given) in e5m2, sums in `acc`, both rounded to nearest even (IEEE).
MacOptions mac(qtorch::Number acc, bool e5m2_products, int64_t chunk = 0, bool kahan = false) {
  MacOptions m;
  if (e5m2_products) {
    m.multiply = qtorch::Number(qtorch::formats::fp8_e5m2());
    m.multiply_rounding = Rounding::NearestEven;
  }
  m.accumulate_rounding = Rounding::NearestEven;
  m.accumulate = acc;
  m.chunk = chunk;
  m.compensated = kahan;
  return m;
}

const qtorch::Number kE8m3 = FloatingPoint{.exp = 8, .man = 3};

TEST(PapersAccumulation, Part8bArmsCarryTheirMacOptionsForwardAndBackwardOnEveryLayer) {
  const auto arms = qrepro::accumulation_arms_8b({});
  ASSERT_EQ(arms.size(), 6u);
  const auto& f32 = arm(arms, "fp32");
  expect_paired(arms, f32);
  EXPECT_FALSE(f32.recipe.mac_forward);
  EXPECT_FALSE(f32.recipe.mac_backward);
  const qtorch::Number fp16 = qtorch::formats::fp16();
  const std::vector<std::pair<std::string, MacOptions>> want = {
      {"e5m2 x fp16", mac(fp16, true)},
      {"e5m2 x fp16 chunk 64", mac(fp16, true, 64)},
      {"e5m2 x e8m3", mac(kE8m3, true)},
      {"e5m2 x e8m3 chunk 64", mac(kE8m3, true, 64)},
      {"e5m2 x e8m3 Kahan", mac(kE8m3, true, 0, true)},
  };
  for (const auto& [name, options] : want) {
    SCOPED_TRACE(name);
    const auto& a = arm(arms, name);
    ASSERT_TRUE(a.recipe.mac_forward);
    ASSERT_TRUE(a.recipe.mac_backward);
    EXPECT_EQ(*a.recipe.mac_forward, options) << qtorch::quant::mac_text(*a.recipe.mac_forward);
    EXPECT_EQ(*a.recipe.mac_backward, options);
    // The library's apply_recipe places them on every Linear layer (784-64-10).
    EXPECT_EQ(a.mac_scope, qrepro::MacScope::AllLayers);
    EXPECT_EQ(qrepro::trainer_recipe(a), a.recipe);
    EXPECT_EQ(a.mlp_widths, (std::vector<int64_t>{784, 64, 10}));
  }
}

TEST(PapersAccumulation, Part8cArmsAccumulateTheLastLayerOnlyInE8mM) {
  const auto arms = qrepro::accumulation_arms_8c({});
  ASSERT_EQ(arms.size(), 4u * 7u);
  for (int64_t h : {16, 64, 256, 1024}) {
    std::vector<qrepro::ArmConfig> group;
    for (const auto& a : arms)
      if (a.mlp_widths == std::vector<int64_t>{784, h, 10}) group.push_back(a);
    ASSERT_EQ(group.size(), 7u) << h;
    const auto& f32 = arm(group, "H=" + std::to_string(h) + " fp32");
    expect_paired(group, f32);
    EXPECT_FALSE(f32.recipe.mac_forward);
    EXPECT_TRUE(f32.probe);
    // The model in a variable: a temporary inside a range-for's range dies before the loop body.
    const auto f32_model = qrepro::build_model(f32);
    for (const auto* l : linears(*f32_model)) EXPECT_EQ(dynamic_cast<const qtorch::nn::QLinear*>(l), nullptr);
    for (int m = 1; m <= 6; ++m) {
      const auto& a = arm(group, "H=" + std::to_string(h) + " e8m" + std::to_string(m));
      SCOPED_TRACE(a.name);
      const MacOptions want = mac(FloatingPoint{.exp = 8, .man = m}, false);
      ASSERT_TRUE(a.recipe.mac_forward);
      EXPECT_EQ(*a.recipe.mac_forward, want);
      EXPECT_FALSE(a.recipe.mac_backward);
      EXPECT_EQ(a.mac_scope, qrepro::MacScope::LastLinear);
      // The trainer gets no MAC options: the harness has put them on the last layer.
      EXPECT_FALSE(qrepro::trainer_recipe(a).mac_forward);
      EXPECT_FALSE(qrepro::trainer_recipe(a).mac_backward);
      const auto model = qrepro::build_model(a);
      const auto ls = linears(*model);
      ASSERT_EQ(ls.size(), 2u);
      EXPECT_EQ(dynamic_cast<const qtorch::nn::QLinear*>(ls[0]), nullptr) << "first layer stays float32";
      const auto* q = dynamic_cast<const qtorch::nn::QLinear*>(ls[1]);
      ASSERT_NE(q, nullptr);
      EXPECT_EQ(q->in_features(), h);
      ASSERT_TRUE(q->forward_mac());
      EXPECT_EQ(*q->forward_mac(), want);
      EXPECT_FALSE(q->backward_mac());
    }
  }
}

// Swamping, exactly, with round to nearest even (IEEE; the part's arms round so): 4096 ones
// summed in fp16 (11 significant bits). At 2048 the spacing is 2, so 2048 + 1 is a tie and
// rounds to even, 2048: the sum stops there, half of the true 4096. In chunks of 64 every chunk
// sum (64) and every sum of chunk sums (a multiple of 64 up to 4096) is exact. Kahan: at 2048
// the lost 1 goes into the compensation (-1), the next term adds 1 - (-1) = 2 exactly, and so
// on, to 4096 exactly.
// In e8m3 (4 significant bits) the spacing at 16 is 2: ones stop at 16. Chunks of 64 stop at 16
// each, and the 64 chunk sums of 16 stop at 256 (spacing 32 there, 256 + 16 a tie); chunks of 8
// are exact (8) but their 512 sums stop at 128 (spacing 16, 128 + 8 a tie). Kahan stops at 256
// too: its compensated term y = 1 - comp is itself rounded to 4 bits; at 256 it climbs to 16,
// 256 + 16 rounds back to 256, comp = -16, and y = 17 rounds to 16 (a tie, even) for good.
TEST(PapersAccumulation, OnesSwampInFp16AndE8m3ChunksAndKahanGetFurther) {
  const int64_t n = 4096;
  const Tensor a = Tensor::from_vector(std::vector<float>(n, 1.0f), {1, n});
  const Tensor b = Tensor::from_vector(std::vector<float>(n, 1.0f), {n, 1});
  auto sum = [&](const char* text) { return qtorch::quant::qmatmul_forward(a, b, qtorch::quant::parse_mac(text)).item(); };
  EXPECT_EQ(sum("acc=fp16,acc_rounding=nearest_even"), 2048.0f);
  EXPECT_EQ(sum("acc=fp16,chunk=64,acc_rounding=nearest_even"), 4096.0f);
  EXPECT_EQ(sum("acc=fp16,kahan,acc_rounding=nearest_even"), 4096.0f);
  EXPECT_EQ(sum("acc=float:8:3,acc_rounding=nearest_even"), 16.0f);
  EXPECT_EQ(sum("acc=float:8:3,chunk=64,acc_rounding=nearest_even"), 256.0f);
  EXPECT_EQ(sum("acc=float:8:3,chunk=8,acc_rounding=nearest_even"), 128.0f);
  EXPECT_EQ(sum("acc=float:8:3,kahan,acc_rounding=nearest_even"), 256.0f);
}

}  // namespace
