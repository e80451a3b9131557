// SGD, Adam and AdamW: first steps against values worked out by hand from the update
// rules, plus parameter groups, the state visitor and the state dict.
#include <gtest/gtest.h>

#include <cmath>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/core/error.h"
#include "qtorch/optim/adam.h"
#include "qtorch/optim/sgd.h"

using namespace qtorch;

namespace {

Tensor param(float v) { return full({1}, v).requires_grad_(); }

// Runs the optimizer over a sequence of gradients for one scalar parameter.
std::vector<float> run(optim::Optimizer& opt, Tensor& p, const std::vector<float>& grads) {
  std::vector<float> out;
  for (float g : grads) {
    p.set_grad(full({1}, g));
    opt.step();
    out.push_back(p.item());
  }
  return out;
}

}  // namespace

TEST(SGD, PlainStep) {
  Tensor p = param(1);
  optim::SGD opt({p}, {.lr = 0.1});
  EXPECT_NEAR(run(opt, p, {0.5f})[0], 0.95f, 1e-7);
  EXPECT_EQ(opt.step_count(), 1);
}

TEST(SGD, MomentumAndWeightDecayByHand) {
  // step 1: d = 0.5 + 0.1*1 = 0.6, buf = 0.6, p = 1 - 0.06 = 0.94
  // step 2: d = 0.5 + 0.094 = 0.594, buf = 0.54 + 0.594 = 1.134, p = 0.94 - 0.1134 = 0.8266
  Tensor p = param(1);
  optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
  auto v = run(opt, p, {0.5f, 0.5f});
  EXPECT_NEAR(v[0], 0.94f, 1e-6);
  EXPECT_NEAR(v[1], 0.8266f, 1e-6);
}

TEST(SGD, NesterovByHand) {
  // step 1: d = 0.6, buf = 0.6, d = 0.6 + 0.9*0.6 = 1.14, p = 0.886
  // step 2: d = 0.5886, buf = 0.54 + 0.5886 = 1.1286, d = 0.5886 + 1.01574 = 1.60434,
  //         p = 0.886 - 0.160434 = 0.725566
  Tensor p = param(1);
  optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true});
  auto v = run(opt, p, {0.5f, 0.5f});
  EXPECT_NEAR(v[0], 0.886f, 1e-6);
  EXPECT_NEAR(v[1], 0.725566f, 1e-6);
}

TEST(SGD, DampeningSkipsTheFirstStep) {
  // step 1: buf = g = 0.5 (no dampening), p = 0.95; step 2: buf = 0.45 + 0.5*0.5 = 0.7, p = 0.88
  Tensor p = param(1);
  optim::SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  auto v = run(opt, p, {0.5f, 0.5f});
  EXPECT_NEAR(v[0], 0.95f, 1e-6);
  EXPECT_NEAR(v[1], 0.88f, 1e-6);
}

TEST(SGD, SkipsParametersWithoutGradientAndChecksOptions) {
  Tensor a = param(1), b = param(2);
  optim::SGD opt({a, b}, {.lr = 0.5, .momentum = 0.9});
  a.set_grad(full({1}, 1.0f));
  opt.step();
  EXPECT_FLOAT_EQ(a.item(), 0.5f);
  EXPECT_FLOAT_EQ(b.item(), 2.0f);
  int buffers = 0;
  opt.for_each_state([&](Tensor&) { ++buffers; });
  EXPECT_EQ(buffers, 1);  // b never stepped, so it has no momentum yet
  EXPECT_THROW(optim::SGD({a}, {.lr = 0.1, .nesterov = true}), Error);
  EXPECT_THROW(optim::SGD({a}, {.lr = -1}), Error);
}

TEST(SGD, ParamGroupsHaveTheirOwnLearningRate) {
  Tensor a = param(1), b = param(1);
  optim::SGD opt(std::vector<optim::ParamGroup>{{{a}, 0.1}, {{b}}}, {.lr = 0.5});
  EXPECT_DOUBLE_EQ(opt.lr(), 0.1);
  a.set_grad(full({1}, 1.0f));
  b.set_grad(full({1}, 1.0f));
  opt.step();
  EXPECT_FLOAT_EQ(a.item(), 0.9f);
  EXPECT_FLOAT_EQ(b.item(), 0.5f);
  opt.set_lr(0.25);
  EXPECT_DOUBLE_EQ(opt.param_groups()[1].lr, 0.25);
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

// An independent double-precision Adam for one scalar.
std::vector<double> adam_reference(double p, const std::vector<double>& grads, double lr,
                                   double b1, double b2, double eps, double wd, bool decoupled) {
  double m = 0, v = 0;
  std::vector<double> out;
  for (size_t t = 1; t <= grads.size(); ++t) {
    double g = grads[t - 1];
    if (decoupled) p *= 1 - lr * wd; else g += wd * p;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    double mhat = m / (1 - std::pow(b1, t)), vhat = v / (1 - std::pow(b2, t));
    p -= lr * mhat / (std::sqrt(vhat) + eps);
    out.push_back(p);
  }
  return out;
}

TEST(Adam, FirstStepsByHand) {
  // Step 1 moves by exactly lr against the gradient's sign: m^ = g, v^ = g^2.
  // Step 2 with g = -0.2: m = 0.025, v = 0.00028975, m^ = 0.1315789, v^ = 0.1449475,
  // p = 0.9 - 0.1 * 0.1315789 / 0.3807197 = 0.8654394.
  Tensor p = param(1);
  optim::Adam opt({p}, {.lr = 0.1});
  auto v = run(opt, p, {0.5f, -0.2f, 0.3f});
  EXPECT_NEAR(v[0], 0.9f, 1e-6);
  EXPECT_NEAR(v[1], 0.8654394f, 1e-6);
  auto ref = adam_reference(1, {0.5, -0.2, 0.3}, 0.1, 0.9, 0.999, 1e-8, 0, false);
  EXPECT_NEAR(v[2], ref[2], 1e-6);
  int buffers = 0;
  opt.for_each_state([&](Tensor&) { ++buffers; });
  EXPECT_EQ(buffers, 2);
}

TEST(Adam, WeightDecayIsAddedToTheGradient) {
  Tensor p = param(1);
  optim::Adam opt({p}, {.lr = 0.05, .beta1 = 0.8, .beta2 = 0.99, .weight_decay = 0.5});
  auto v = run(opt, p, {0.5f, -0.2f, 0.3f});
  auto ref = adam_reference(1, {0.5, -0.2, 0.3}, 0.05, 0.8, 0.99, 1e-8, 0.5, false);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], ref[i], 1e-6) << i;
}

TEST(AdamW, DecoupledWeightDecayByHand) {
  // Step 1: p = 1 * (1 - 0.1*0.1) = 0.99, then the Adam move of exactly lr: 0.89.
  Tensor p = param(1);
  optim::AdamW opt({p}, {.lr = 0.1, .weight_decay = 0.1});
  auto v = run(opt, p, {0.5f, -0.2f, 0.3f});
  EXPECT_NEAR(v[0], 0.89f, 1e-6);
  auto ref = adam_reference(1, {0.5, -0.2, 0.3}, 0.1, 0.9, 0.999, 1e-8, 0.1, true);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], ref[i], 1e-6) << i;
}

TEST(Optimizer, StateDictRoundTripAndChecks) {
  Tensor p = param(1);
  optim::Adam a({p}, {.lr = 0.1});
  run(a, p, {0.5f, -0.2f});
  optim::OptimizerState sd = a.state_dict();
  EXPECT_TRUE(sd.tensors.contains("0.exp_avg"));
  EXPECT_TRUE(sd.tensors.contains("0.exp_avg_sq"));
  EXPECT_EQ(sd.scalars.at("0.step"), 2);

  Tensor q = param(p.item());
  optim::Adam b({q}, {.lr = 0.5});
  b.load_state_dict(sd);
  EXPECT_DOUBLE_EQ(b.lr(), 0.1);
  EXPECT_EQ(b.step_count(), 2);
  auto va = run(a, p, {0.3f});
  auto vb = run(b, q, {0.3f});
  EXPECT_EQ(va, vb);

  Tensor big = zeros({2}).requires_grad_();
  optim::Adam c({big}, {.lr = 0.1});
  EXPECT_THROW(c.load_state_dict(sd), Error);  // shape [1] for a [2] parameter
  EXPECT_EQ(c.step_count(), 0);
  optim::SGD d({q}, {.lr = 0.1, .momentum = 0.9});
  EXPECT_THROW(d.load_state_dict(sd), Error);  // Adam buffers in an SGD
}

TEST(Optimizer, GroupLearningRatesAreChecked) {
  Tensor a = param(1), b = param(1);
  using Groups = std::vector<optim::ParamGroup>;
  EXPECT_THROW(optim::SGD(Groups{{{a}, std::nan("")}}, {.lr = 0.1}), Error);
  EXPECT_THROW(optim::SGD(Groups{{{a}, INFINITY}}, {.lr = 0.1}), Error);
  EXPECT_THROW(optim::SGD(Groups{{{a}, -0.5}}, {.lr = 0.1}), Error);  // was the default, silently
  optim::SGD opt(Groups{{{a}}, {{b}, 0.0}}, {.lr = 0.1});                // -1 (unset): the default
  EXPECT_EQ(opt.param_groups()[0].lr, 0.1);
  EXPECT_EQ(opt.param_groups()[1].lr, 0.0);
  opt.set_group_lr(1, 0.5);
  EXPECT_EQ(opt.param_groups()[1].lr, 0.5);
  EXPECT_THROW(opt.set_group_lr(2, 0.5), Error);
  EXPECT_THROW(opt.set_group_lr(0, -1.0), Error);
  EXPECT_THROW(optim::SGD({a}, {.lr = 0.1, .momentum = 0.9, .dampening = std::nan("")}), Error);
}

// A state with no buffers for parameters that took steps restarted them from zero under the
// old step count (Adam's next update 0.00064 instead of 0.001); step counts that are not
// whole numbers >= 0 became NaN weights or INT64_MIN.
TEST(Optimizer, LoadStateDictRefusesMissingBuffersAndBadStepCounts) {
  Tensor p = param(2);
  optim::Adam adam({p}, {.lr = 0.001});
  p.set_grad(full({1}, 1.0f));
  adam.step();
  const optim::OptimizerState good = adam.state_dict();
  optim::Adam fresh({param(2)}, {.lr = 0.001});
  EXPECT_NO_THROW(fresh.check_state_dict(good));
  optim::OptimizerState no_buffers = good;
  no_buffers.tensors = {};
  try {
    fresh.load_state_dict(no_buffers);
    FAIL() << "a stepped parameter without buffers was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected an entry '0.exp_avg' (parameter 0 has taken 1 steps)"),
              std::string::npos)
        << e.what();
  }
  for (double bad : {-1.0, 2.5, 1e30, std::nan("")}) {
    for (const char* key : {"0.step", "step_count"}) {
      optim::OptimizerState s = good;
      s.scalars[key] = bad;
      EXPECT_THROW(fresh.load_state_dict(s), Error) << key << " = " << bad;
    }
  }
  // SGD with momentum: the same rule; without momentum there is no buffer to ask for.
  Tensor q = param(1);
  optim::SGD sgd({q}, {.lr = 0.1, .momentum = 0.9});
  q.set_grad(full({1}, 1.0f));
  sgd.step();
  optim::OptimizerState momentum = sgd.state_dict();
  momentum.tensors = {};
  EXPECT_THROW(optim::SGD({param(1)}, {.lr = 0.1, .momentum = 0.9}).load_state_dict(momentum), Error);
  EXPECT_NO_THROW(optim::SGD({param(1)}, {.lr = 0.1}).load_state_dict(momentum));
}

TEST(Optimizer, TheSameParameterTwiceIsRefused) {
  // It took every update twice (PyTorch refuses it too).
  Tensor a = param(1), b = param(2);
  try {
    optim::SGD(std::vector<optim::ParamGroup>{{{a, b}}, {{a}}}, {.lr = 0.1});
    FAIL() << "a parameter given twice was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected each parameter once, got parameter 0 (group 0) again as parameter 2"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(optim::Adam({a, a}, {}), Error);
}
