// apply_recipe: the lowered model, the OptimLP wrapper, the counters and the overflow channel.
#include "qtorch/train/apply.h"

#include <gtest/gtest.h>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/autograd/loss.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/nn/activation.h"
#include "qtorch/nn/conv.h"
#include "qtorch/nn/linear.h"
#include "qtorch/nn/quantizer_module.h"
#include "qtorch/optim/optim_lp.h"
#include "qtorch/optim/sgd.h"
#include "qtorch/train/models.h"

namespace qtorch::train {
namespace {

OptimizerFactory sgd(double lr = 0.1) {
  return [lr](const std::vector<Tensor>& params) {
    return std::make_shared<optim::SGD>(params, optim::SGDOptions{.lr = lr});
  };
}

Recipe fixed_everywhere(int wl, int fl) {
  Recipe r;
  for (Role role : kRoles) r[role] = {FixedPoint{.wl = wl, .fl = fl}, Rounding::Nearest};
  return r;
}

int count_quantizers(nn::Module& m) {
  int n = 0;
  for (auto& [name, module] : m.named_modules()) n += module->type_name() == "Quantizer" ? 1 : 0;
  return n;
}

TEST(ApplyRecipe, Float32LeavesModelAndOptimizerAlone) {
  manual_seed(0);
  nn::ModulePtr model = models::mlp({4, 3, 2});
  LowPrecisionSetup s = apply_recipe(Recipe{}, model, sgd());
  EXPECT_EQ(s.model, model);  // no copy
  EXPECT_EQ(dynamic_cast<optim::OptimLP*>(s.optimizer.get()), nullptr);
  EXPECT_EQ(count_quantizers(*s.model), 0);
}

TEST(ApplyRecipe, PlacesQuantizersAfterTheRecipesLayerKinds) {
  manual_seed(0);
  nn::ModulePtr model = models::mlp({4, 3, 2});  // Flatten, Linear, ReLU, Linear
  Recipe r = preset("block8");
  EXPECT_EQ(count_quantizers(*apply_recipe(r, model, sgd()).model), 2);
  r.quantize_after = parse_layer_kinds("all");
  EXPECT_EQ(count_quantizers(*apply_recipe(r, model, sgd()).model), 3);
  EXPECT_EQ(count_quantizers(*model), 0);  // the original is unchanged
  EXPECT_NE(dynamic_cast<optim::OptimLP*>(apply_recipe(r, model, sgd()).optimizer.get()), nullptr);
}

TEST(ApplyRecipe, QuantizesInitialWeightsAccThenWeight) {
  manual_seed(3);
  nn::ModulePtr model = std::make_shared<nn::Linear>(3, 2);
  const std::vector<float> w0 = model->parameters()[0].to_vector();
  Recipe r;
  r[Role::Acc] = {FixedPoint{.wl = 8, .fl = 4}, Rounding::Nearest};
  r[Role::Weight] = {FixedPoint{.wl = 4, .fl = 1}, Rounding::Nearest};
  r.quantize_initial_weights = true;
  LowPrecisionSetup s = apply_recipe(r, model, sgd());
  auto& lp = dynamic_cast<optim::OptimLP&>(*s.optimizer);
  const std::vector<float> stored = s.model->parameters()[0].to_vector(), acc = lp.accumulator(0).to_vector();
  for (size_t i = 0; i < w0.size(); ++i) {
    const float a = std::nearbyint(w0[i] * 16.0f) / 16.0f;  // to 1/16 (|w0| < 1: no clamp)
    EXPECT_EQ(acc[i], a) << i;
    EXPECT_EQ(stored[i], std::nearbyint(a * 2.0f) / 2.0f) << i;  // then to 1/2
  }
}

TEST(ApplyRecipe, CountsTheChosenRolesAndReportsErrorSaturation) {
  // fixed:4:2 holds [-2, 1.75] in steps of 0.25.
  Recipe r = fixed_everywhere(4, 2);
  r.quantize_after = {nn::LayerKind::Linear};
  ApplyOptions options;
  options.count_nonzero = true;
  options.counted_roles = {Role::Error, Role::Weight};
  manual_seed(0);
  auto linear = std::make_shared<nn::Linear>(3, 3, nn::LinearOptions{.bias = false});
  {
    NoGradGuard no_grad;
    linear->parameters()[0].copy_(Tensor::from_vector({1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 3}));
  }
  LowPrecisionSetup s = apply_recipe(r, linear, sgd(0.0), options);
  // Forward 3.0 saturates (activation, not counted); backward 0.1 flushes, 100 and -100 saturate.
  Tensor x = Tensor::from_vector({0.5f, 3.0f, 1.0f}, {1, 3});
  s.model->forward(x).backward(Tensor::from_vector({0.1f, 100.0f, -100.0f}, {1, 3}));
  const QuantCounts e = s.counters->total(Role::Error);
  EXPECT_EQ(e, (QuantCounts{.numel = 3, .nonzero = 3, .flushed = 1, .saturated = 2}));
  EXPECT_DOUBLE_EQ(e.flush_fraction(), 1.0 / 3.0);
  EXPECT_EQ(s.counters->total(Role::Activation), QuantCounts{});
  EXPECT_EQ(s.overflow->take(), 2);
  EXPECT_EQ(s.overflow->take(), 0);
  s.optimizer->step();  // the weight quantizer counts: 9 elements, 3 nonzero, none flushed
  EXPECT_EQ(s.counters->total(Role::Weight), (QuantCounts{.numel = 9, .nonzero = 3, .flushed = 0, .saturated = 0}));
  s.counters->pause(true);
  s.optimizer->step();
  EXPECT_EQ(s.counters->total(Role::Weight).numel, 9);
}

// The lowered model runs each layer's bias add and the ReLU after it inside the quantizer
// between them (one node, one GPU pass each way); forward hooks on the layers and the ReLUs
// keep them apart. Three block8 steps give the same losses, parameters and counts either way,
// with and without nonzero counts (the activations' need the sum itself, so that quantizer
// keeps its own add; the errors' are a backward hook, which keeps the ReLU's backward out
// of the backward quantization's pass).
TEST(ApplyRecipe, BiasAddsAndRelusInsideTheQuantizersGiveTheStepsOfSeparateOps) {
  for (bool lenet : {false, true})
  for (bool count_nonzero : {false, true}) {
    std::vector<float> losses[2];
    std::vector<std::vector<float>> params[2];
    QuantCounts activations[2], errors[2];
    std::string last_node[2];
    for (int separate = 0; separate < 2; ++separate) {
      manual_seed(5);
      ApplyOptions options;
      options.count_nonzero = count_nonzero;
      options.counted_roles = {Role::Activation, Role::Error};
      LowPrecisionSetup s = apply_recipe(preset("block8"), lenet ? models::lenet() : models::mlp({12, 16, 16, 10}),
                                         sgd(0.1), options);
      int hooked = 0;
      if (separate == 1)
        for (auto& [name, m] : s.model->named_modules())
          if (dynamic_cast<nn::Linear*>(m.get()) != nullptr || dynamic_cast<nn::Conv2d*>(m.get()) != nullptr ||
              dynamic_cast<nn::ReLU*>(m.get()) != nullptr) {
            m->register_forward_hook([](nn::Module&, const Tensor&, const Tensor&) { return Tensor(); });
            ++hooked;
          }
      EXPECT_EQ(hooked, separate == 1 ? (lenet ? 9 : 5) : 0);
      manual_seed(6);
      const Tensor x = lenet ? randn({8, 1, 28, 28}) : randn({8, 12}) * 2.0f;
      const Tensor labels = Tensor::from_vector({0, 3, 9, 1, 1, 4, 7, 2}, {8});
      for (int step = 0; step < 3; ++step) {
        s.optimizer->zero_grad();
        const Tensor out = (*s.model)(x);
        last_node[separate] = out.grad_fn_name();
        Tensor loss = cross_entropy(out, labels);
        loss.backward();
        s.optimizer->step();
        losses[separate].push_back(loss.item());
      }
      for (const Tensor& p : s.model->parameters()) params[separate].push_back(p.to_vector());
      activations[separate] = s.counters->total(Role::Activation);
      errors[separate] = s.counters->total(Role::Error);
    }
    const std::string label =
        std::string(lenet ? "lenet, " : "mlp, ") + (count_nonzero ? "nonzero counted" : "nonzero not counted");
    EXPECT_EQ(last_node[0], count_nonzero ? "quantizer" : "quantizer_bias_add") << label;
    EXPECT_EQ(last_node[1], "quantizer") << label;
    EXPECT_EQ(losses[0], losses[1]) << label;
    EXPECT_EQ(params[0], params[1]) << label;
    EXPECT_EQ(activations[0], activations[1]) << label;
    EXPECT_EQ(errors[0], errors[1]) << label;
    EXPECT_GT(activations[0].numel, 0) << label;
  }
}

TEST(ApplyRecipe, OverflowChannelMakesTheScalerSkip) {
  auto channel = std::make_shared<OverflowChannel>();
  optim::LossScaler scaler({.init_scale = 8, .dynamic = true});
  OverflowChannel::connect(channel, scaler);
  Tensor w = Tensor::from_vector({1.0f}, {1}).requires_grad_();
  optim::SGD opt({w}, {.lr = 1.0});
  scaler.scale(sum(w * 1.0f)).backward();
  channel->report(5);
  EXPECT_FALSE(scaler.step(opt));
  EXPECT_EQ(w.to_vector()[0], 1.0f);
  EXPECT_EQ(scaler.get_scale(), 4.0);
}

TEST(ApplyRecipe, ErrorHooksSeeTheErrorBeforeQuantization) {
  manual_seed(0);
  std::vector<float> seen;
  ApplyOptions options;
  options.error_hooks.push_back([&](const Tensor& g) {
    seen = g.to_vector();
    return g;
  });
  Recipe r;
  r[Role::Error] = {FixedPoint{.wl = 4, .fl = 2}, Rounding::Nearest};
  auto linear = std::make_shared<nn::Linear>(2, 2);
  LowPrecisionSetup s = apply_recipe(r, linear, sgd(), options);
  Tensor x = Tensor::from_vector({1.0f, 2.0f}, {1, 2}).requires_grad_();
  s.model->forward(x).backward(Tensor::from_vector({0.1f, 7.0f}, {1, 2}));
  EXPECT_EQ(seen, (std::vector<float>{0.1f, 7.0f}));
  // A float32 recipe with hooks still places the (identity) quantizers.
  seen.clear();
  LowPrecisionSetup f = apply_recipe(Recipe{}, linear, sgd(), options);
  f.model->forward(x).backward(Tensor::from_vector({0.5f, 0.25f}, {1, 2}));
  EXPECT_EQ(seen, (std::vector<float>{0.5f, 0.25f}));
}

TEST(ApplyRecipe, MultiplierDividesGradientsBeforeTheGradQuantizer) {
  manual_seed(0);
  Recipe r;
  r[Role::Grad] = {FixedPoint{.wl = 16, .fl = 8}, Rounding::Nearest};
  r.loss_scaling = {LossScaling::Kind::Multiplier, 1000};
  auto w = std::make_shared<nn::Linear>(1, 1, nn::LinearOptions{.bias = false});
  LowPrecisionSetup s = apply_recipe(r, w, sgd(1.0));
  auto& lp = dynamic_cast<optim::OptimLP&>(*s.optimizer);
  EXPECT_DOUBLE_EQ(lp.options().grad_scaling, 1e-3);
}

TEST(ApplyRecipe, RejectsBadArguments) {
  EXPECT_THROW(apply_recipe(Recipe{}, nullptr, sgd()), Error);
  EXPECT_THROW(apply_recipe(Recipe{}, models::mlp({2, 2}), OptimizerFactory{}), Error);
  Recipe bad;
  bad.clamping_grad_zero = true;
  EXPECT_THROW(apply_recipe(bad, models::mlp({2, 2}), sgd()), Error);
  EXPECT_THROW(models::mlp({2}), Error);
  EXPECT_THROW(models::by_name("resnet"), Error);
}

}  // namespace
}  // namespace qtorch::train
