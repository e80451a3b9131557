// What every op family does with NaN and +-inf inputs: one test per row of docs/nan_inf.md.
// Expected values follow IEEE 754 arithmetic (PyTorch's behaviour) and docs/numerics.md.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "qtorch/qtorch.h"

namespace qtorch {
namespace {

const float kNan = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

std::vector<float> values(const Tensor& t) { return t.contiguous().to_vector(); }

TEST(NanInf, ElementwiseFollowIeee) {
  Tensor x = Tensor::from_vector({kNan, kInf, -kInf, 1.0f}, {4});
  // NaN propagates through every op, relu included (it used to return 0, hiding the NaN).
  for (const Tensor& y : {relu(x), sigmoid(x), tanh(x), exp(x), abs(x), x * 2.0f, x + 1.0f})
    EXPECT_TRUE(std::isnan(values(y)[0]));
  EXPECT_EQ(values(relu(x))[1], kInf);
  EXPECT_EQ(values(relu(x))[2], 0.0f);
  EXPECT_EQ(values(exp(x))[2], 0.0f);
  EXPECT_EQ(values(sigmoid(x))[1], 1.0f);
  EXPECT_EQ(values(sigmoid(x))[2], 0.0f);
  EXPECT_TRUE(std::isnan(values(x - x)[1]));  // inf - inf
  EXPECT_TRUE(std::isnan(values(x * 0.0f)[1]));  // inf * 0
  EXPECT_EQ(values(log(Tensor::from_vector({0.0f}, {1})))[0], -kInf);
  for (const Tensor& y : {x - 1.0f, x / 2.0f, log(x), x * x})
    EXPECT_TRUE(std::isnan(values(y)[0]));
  EXPECT_EQ(values(tanh(x))[1], 1.0f);
  EXPECT_EQ(values(tanh(x))[2], -1.0f);
  // maximum propagates a NaN from either side, as torch.maximum.
  Tensor one = Tensor::from_vector({1.0f, 1.0f, 1.0f, 1.0f}, {4});
  for (const Tensor& y : {maximum(x, one), maximum(one, x)}) {
    const std::vector<float> v = values(y);
    EXPECT_TRUE(std::isnan(v[0]));
    EXPECT_EQ(v[1], kInf);
    EXPECT_EQ(v[2], 1.0f);
  }
}

TEST(NanInf, ReductionsPropagateNanAndArgmaxPicksIt) {
  Tensor x = Tensor::from_vector({1.0f, kNan, 3.0f}, {3});
  EXPECT_TRUE(std::isnan(sum(x).item()));
  EXPECT_TRUE(std::isnan(mean(x).item()));
  EXPECT_TRUE(std::isnan(max(x).item()));
  EXPECT_EQ(argmax(x, 0).item(), 1.0f);  // NaN counts as the largest, as in PyTorch
  Tensor y = Tensor::from_vector({kInf, 1.0f}, {2});
  EXPECT_EQ(sum(y).item(), kInf);
  EXPECT_EQ(max(y).item(), kInf);
  EXPECT_TRUE(std::isnan(sum(Tensor::from_vector({kInf, -kInf}, {2})).item()));
}

TEST(NanInf, SoftmaxAndCrossEntropyPoisonOnlyTheirRow) {
  Tensor logits = Tensor::from_vector({kInf, 1.0f, kNan, 0.0f, -kInf, 0.0f}, {3, 2});
  const std::vector<float> p = values(softmax(logits, 1));
  EXPECT_TRUE(std::isnan(p[0]) && std::isnan(p[2]));  // +inf logit: inf - inf; a NaN logit
  EXPECT_EQ(p[4], 0.0f);  // a -inf logit gets probability 0, the row stays finite
  EXPECT_EQ(p[5], 1.0f);
  const std::vector<float> ce = values(cross_entropy(logits, Tensor::from_vector({0, 1, 1}, {3}), Reduction::None));
  EXPECT_TRUE(std::isnan(ce[0]) && std::isnan(ce[1]));
  EXPECT_EQ(ce[2], 0.0f);
  EXPECT_TRUE(std::isnan(cross_entropy(logits, Tensor::from_vector({0, 1, 1}, {3})).item()));  // the mean
}

TEST(NanInf, MatmulAndConvPoisonTheOutputsTheyTouch) {
  Tensor a = Tensor::from_vector({kNan, 1, 1, 1}, {2, 2}), id = Tensor::from_vector({1, 0, 0, 1}, {2, 2});
  const std::vector<float> m = values(matmul(a, id));
  EXPECT_TRUE(std::isnan(m[0]) && std::isnan(m[1]));  // NaN * 0 is NaN: the whole row
  EXPECT_EQ(m[2], 1.0f);
  const std::vector<float> mi = values(matmul(Tensor::from_vector({kInf, 1, 1, 1}, {2, 2}), id));
  EXPECT_EQ(mi[0], kInf);
  EXPECT_TRUE(std::isnan(mi[1]));  // inf * 0
  Tensor img = Tensor::from_vector({kNan, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 3, 3});
  const std::vector<float> c = values(conv2d(img, ones({1, 1, 2, 2}), Tensor(), {}));
  EXPECT_TRUE(std::isnan(c[0]));
  EXPECT_EQ(c[1], 4.0f);  // windows without the NaN are exact
  const std::vector<float> mp = values(max_pool2d(img, {.kernel_h = 2, .kernel_w = 2, .stride_h = 1, .stride_w = 1}));
  EXPECT_TRUE(std::isnan(mp[0]));
  EXPECT_EQ(mp[3], 1.0f);
  const std::vector<float> ap = values(avg_pool2d(img, {.kernel_h = 2, .kernel_w = 2, .stride_h = 1, .stride_w = 1}));
  EXPECT_TRUE(std::isnan(ap[0]));
  EXPECT_EQ(ap[3], 1.0f);
  // inf in a convolution: inf where every weight that meets it is nonzero, NaN where a zero
  // weight meets it (inf * 0).
  Tensor hot = Tensor::from_vector({kInf, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 3, 3});
  EXPECT_EQ(values(conv2d(hot, ones({1, 1, 2, 2}), Tensor(), {}))[0], kInf);
  const std::vector<float> cz =
      values(conv2d(hot, Tensor::from_vector({0, 1, 1, 1}, {1, 1, 2, 2}), Tensor(), {}));
  EXPECT_TRUE(std::isnan(cz[0]));
  EXPECT_EQ(cz[1], 3.0f);
}

TEST(NanInf, QuantizersFollowTheirFormat) {
  Tensor x = Tensor::from_vector({kNan, kInf, -kInf, 1.0f}, {4});
  const std::vector<float> fixed = values(quant::fixed_point_quantize(x, 8, 4, true, false, Rounding::Nearest));
  EXPECT_TRUE(std::isnan(fixed[0]));
  EXPECT_EQ(fixed[1], 7.9375f);  // clamped to the range
  EXPECT_EQ(fixed[2], -8.0f);
  const std::vector<float> e5m2 = values(quant::quantize(x, formats::fp8_e5m2(), Rounding::Nearest));
  EXPECT_TRUE(std::isnan(e5m2[0]));
  EXPECT_EQ(e5m2[1], kInf);
  const std::vector<float> e4m3 = values(quant::quantize(x, formats::fp8_e4m3(), Rounding::Nearest));
  EXPECT_TRUE(std::isnan(e4m3[1]));  // no inf in E4M3FN
  const std::vector<float> sat = values(quant::quantize(x, formats::fp8_e4m3_sat(), Rounding::Stochastic));
  EXPECT_EQ(sat[1], 448.0f);
  EXPECT_EQ(sat[2], -448.0f);
  for (float v : values(quant::block_quantize(Tensor::from_vector({kInf, 1, 2, 3}, {4}), 8, -1, Rounding::Nearest)))
    EXPECT_TRUE(std::isnan(v));  // a block holding inf or NaN becomes NaN whole
  QuantStats stats;
  quant::quantize(x, formats::fp8_e5m2_sat(), Rounding::Nearest, {.stats = &stats});
  EXPECT_EQ(stats.clamped, 0);  // inf stays inf in E5M2: nothing saturated
  // NaN stays NaN in every format; a block holding one becomes NaN whole.
  EXPECT_TRUE(std::isnan(e4m3[0]));
  EXPECT_TRUE(std::isnan(sat[0]));
  for (float v : values(quant::block_quantize(Tensor::from_vector({kNan, 1, 2, 3}, {4}), 8, -1, Rounding::Nearest)))
    EXPECT_TRUE(std::isnan(v));
  QuantStats saturated;
  quant::quantize(x, formats::fp8_e4m3_sat(), Rounding::Nearest, {.stats = &saturated});
  EXPECT_EQ(saturated.clamped, 2);  // +inf and -inf saturated to +-448; the NaN is not counted
}

TEST(NanInf, NanGradientWithAndWithoutALossScaler) {
  Tensor w = Tensor::from_vector({1.0f, 2.0f}, {2}).requires_grad_();
  optim::SGD sgd({w}, {.lr = 0.1});
  sum(w * Tensor::from_vector({kNan, 1.0f}, {2})).backward();
  sgd.step();  // no scaler: the NaN reaches the weight
  EXPECT_TRUE(std::isnan(values(w)[0]));

  Tensor v = Tensor::from_vector({1.0f, 2.0f}, {2}).requires_grad_();
  optim::SGD opt({v}, {.lr = 0.1});
  optim::LossScaler scaler({.init_scale = 1024, .dynamic = true});
  scaler.scale(sum(v * Tensor::from_vector({kNan, 1.0f}, {2}))).backward();
  EXPECT_FALSE(scaler.step(opt));  // skipped
  EXPECT_EQ(values(v), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(scaler.get_scale(), 512.0);
  EXPECT_EQ(scaler.skipped_steps(), 1);
  // An inf gradient is an overflow too.
  scaler.scale(sum(v * Tensor::from_vector({kInf, 1.0f}, {2}))).backward();
  EXPECT_FALSE(scaler.step(opt));
  EXPECT_EQ(values(v), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(scaler.get_scale(), 256.0);
  EXPECT_EQ(scaler.skipped_steps(), 2);
}

// Every optimizer lets a NaN or inf gradient reach the weight (no guard); inside OptimLP a
// format that clamps (fixed point, a saturating float) turns +-inf into its range's end,
// and NaN stays NaN in every format.
TEST(NanInf, EveryOptimizerPassesNonFiniteGradientsToTheWeight) {
  using Make = std::function<std::shared_ptr<optim::Optimizer>(const Tensor&)>;
  const std::vector<std::pair<const char*, Make>> makers = {
      {"sgd", [](const Tensor& w) { return std::make_shared<optim::SGD>(std::vector<Tensor>{w}, optim::SGDOptions{.lr = 0.1, .momentum = 0.9}); }},
      {"adam", [](const Tensor& w) { return std::make_shared<optim::Adam>(std::vector<Tensor>{w}, optim::AdamOptions{}); }},
      {"adamw", [](const Tensor& w) { return std::make_shared<optim::AdamW>(std::vector<Tensor>{w}, optim::AdamWOptions{}); }},
      {"optimlp e5m2", [](const Tensor& w) {
         return std::make_shared<optim::OptimLP>(
             std::make_shared<optim::SGD>(std::vector<Tensor>{w}, optim::SGDOptions{.lr = 0.1}),
             optim::quant_fn(formats::fp8_e5m2(), Rounding::Nearest), 1.0,
             optim::quant_fn(formats::fp8_e5m2(), Rounding::Nearest));
       }},
  };
  for (const auto& [name, make] : makers)
    for (float bad : {kNan, kInf}) {
      Tensor w = Tensor::from_vector({1.0f, 2.0f}, {2}).requires_grad_();
      auto opt = make(w);
      sum(w * Tensor::from_vector({bad, 1.0f}, {2})).backward();
      opt->step();
      EXPECT_FALSE(std::isfinite(values(w)[0])) << name << " with gradient " << bad;
      EXPECT_TRUE(std::isfinite(values(w)[1])) << name << " with gradient " << bad;
    }
  // A clamping gradient format: inf becomes the format's largest value, NaN stays NaN.
  for (float bad : {kNan, kInf}) {
    Tensor w = Tensor::from_vector({1.0f, 2.0f}, {2}).requires_grad_();
    optim::OptimLP opt(std::make_shared<optim::SGD>(std::vector<Tensor>{w}, optim::SGDOptions{.lr = 0.125}), {}, 1.0,
                       optim::quant_fn(FixedPoint{.wl = 8, .fl = 4}, Rounding::Nearest));
    sum(w * Tensor::from_vector({bad, 1.0f}, {2})).backward();
    opt.step();
    if (std::isnan(bad)) EXPECT_TRUE(std::isnan(values(w)[0]));
    else EXPECT_EQ(values(w)[0], 1.0f - 0.125f * 7.9375f);
  }
}

}  // namespace
}  // namespace qtorch
