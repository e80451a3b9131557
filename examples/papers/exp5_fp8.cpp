// Experiment 5: 8-bit floating point training. (a) Wang et al. 2018: e5m2 everywhere works
// with a 16-bit weight copy (updates accumulate there), fails without it. (b) Sun et al. 2019:
// the hybrid format (e4m3 with bias 11 forward, e5m2 backward) against e5m2 everywhere.
//
// Thresholds: calibrated on seeds 100-102 (`qrepro 5 --seed-base 100 --seeds 3`, and with
// --quick), judged on the mean of the held-out seeds 0-4 (the default). Figures in the README.

#include <cmath>

#include "examples/papers/experiments.h"

namespace qrepro {

namespace {

// The Wang et al. recipe: W = G = A = E = e5m2 nearest, M = ACC = e6m9 stochastic, loss x1000.
ArmConfig fp8_arm(int64_t epochs, int64_t limit) {
  ArmConfig a;
  a.training.epochs = epochs;
  a.training.optimizer.lr = 0.05;
  a.training.optimizer.momentum = 0.9;
  a.limit_train = limit;
  const auto e5m2 = ieee(5, 2, /*saturate=*/false);
  set_roles(a.recipe, {Role::Weight, Role::Grad, Role::Activation, Role::Error}, role(e5m2, qtorch::Rounding::Nearest));
  set_roles(a.recipe, {Role::Momentum, Role::Acc}, role(ieee(6, 9, /*saturate=*/false), qtorch::Rounding::Stochastic));
  a.recipe.loss_scaling = {LossScaling::Kind::Multiplier, 1000.0};
  return a;
}

std::string limit_text(int64_t limit) { return limit > 0 ? fmt::format(" on the first {} images", limit) : ""; }

constexpr int64_t kEpochs = 3, kLimit = 30000, kQuickLimit = 20000;
// 5a, calibrated on seeds 100-102 (`qrepro 5a --seed-base 100 --seeds 3`, 32 s):
// - with the copy - fp32: -0.35 (per seed -1.81 / +0.48 / +0.28, sd 1.27, se5 0.57): "matches"
//   within 2 points, about 3 se5 below the calibration mean.
// - in place - fp32: -13.56 (per seed -13.12 / -13.42 / -14.13, sd 0.52): loses >= 8 points.
constexpr double kCopyTolerance = 2.0;
constexpr double kInPlaceLoss = 8.0;
// 5a quick (1 epoch on 20 000 images; `qrepro all --quick --seed-base 100 --seeds 3`): the share
// of weights a step changes in place over the share with the copy, last epoch: 0.229 / 0.232 /
// 0.235 per seed: below 0.5.
constexpr double kQuickUpdateRatio = 0.5;
// 5b, calibrated on seeds 100-102 (`qrepro 5b --seed-base 100 --seeds 3`, 39 s): no activation
// saturated in any arm; HFP8 - fp32 -0.33 (per seed -0.45 / -0.04 / -0.51, sd 0.26): "without
// accuracy degradation" within 1 point.
constexpr double kSaturation = 1e-4;
constexpr double kHfp8Tolerance = 1.0;

}  // namespace

PartResult run_5a(const RunOptions& o, const Data& d) {
  PartResult p;
  p.id = "5a";
  p.title = "Wang et al. 2018: FP8 (e5m2) training needs the 16-bit weight copy";
  p.citation = "N. Wang, J. Choi, D. Brand, C.-Y. Chen, K. Gopalakrishnan. Training Deep Neural "
               "Networks with 8-bit Floating Point Numbers. NeurIPS 2018 (arXiv:1812.08011)";
  p.claim = "With e5m2 for weights, activations, errors and gradients, training matches float32 when "
            "updates accumulate in a 16-bit copy (e6m9, stochastic rounding); updating the 8-bit "
            "weights directly loses most updates.";
  const int64_t epochs = o.quick ? 1 : kEpochs, limit = o.quick ? kQuickLimit : kLimit;
  const int seeds = part_seeds(o);
  p.paper_figure = abstract_figure(
      "deepai.org/publication/training-deep-neural-networks-with-8-bit-floating-point-numbers",
      "we demonstrate, for the first time, the successful training of DNNs using 8-bit floating point numbers while "
      "fully maintaining the accuracy on a spectrum of Deep Learning models and datasets. In addition to reducing the "
      "data and computation precision to 8 bits, we also successfully reduce the arithmetic precision for additions "
      "(used in partial product accumulation and weight updates) from 32 bits to 16 bits");
  p.recipe = fmt::format("MLP 784-256-10, SGD lr 0.05 momentum 0.9, batch 128, {} epoch(s){}; W = G = A = E "
                         "= e5m2 nearest (IEEE-like); M = e6m9 stochastic; loss x1000 and gradients /1000 "
                         "(before G); with the copy ACC = e6m9 stochastic, without it W is updated in place; {}",
                         epochs, limit_text(limit), seeds_text(o, seeds, kDefaultSeeds));
  ArmConfig f32;
  f32.training.epochs = epochs;
  f32.training.optimizer.lr = 0.05;
  f32.training.optimizer.momentum = 0.9;
  f32.limit_train = limit;
  f32.name = "fp32";
  ArmConfig copy = fp8_arm(epochs, limit);
  copy.name = "e5m2 + e6m9 copy";
  ArmConfig nocopy = copy;
  nocopy.name = "e5m2 in place";
  set_roles(nocopy.recipe, {Role::Acc}, fp32());
  ArmSet set = run_seeded({f32, copy, nocopy}, seeds, d, o);
  accuracy_table(p, set, "fp32");
  auto frac = [&](const std::string& n) { return set.mean(n, [](auto& x) { return x.last().update_fraction; }); };
  add_column(p, set, "update frac (last epoch, mean)", [&](const std::string& n) { return sci(frac(n)); });
  add_column(p, set, "G flushed (mean)", [&](const std::string& n) {
    return n == "fp32" ? "-" : num(set.mean(n, [](auto& x) { return x.grad_counts.flush_fraction(); }), 3);
  });
  if (o.quick) {
    const double fi = frac(nocopy.name), fc = frac(copy.name);
    p.check(fmt::format("in place, a step changes under {:.2f}x the share of weights it changes with the copy (e5m2 "
                        "rounds small updates away)",
                        kQuickUpdateRatio),
            fmt::format("{} vs {} (ratio {:.3f})", sci(fi), sci(fc), fc > 0 ? fi / fc : 0.0), fi < kQuickUpdateRatio * fc);
  } else {
    const Stats gc = paired(set, copy.name, "fp32"), gi = paired(set, nocopy.name, "fp32");
    auto ok = [](double g) { return g >= -kCopyTolerance; };
    auto loses = [](double g) { return g <= -kInPlaceLoss; };
    p.check(fmt::format("with the 16-bit copy: mean paired gap to fp32 >= -{:.1f} points", kCopyTolerance),
            describe(gc, ok), ok(gc.mean));
    p.check(fmt::format("without the copy: mean paired gap to fp32 <= -{:.1f} points", kInPlaceLoss), describe(gi, loses),
            loses(gi.mean));
  }
  p.notes.push_back("e5m2 keeps 2 mantissa bits: an update smaller than 1/8 of a weight's magnitude "
                    "rounds back to the old value when the weight itself is e5m2");
  p.panels.push_back(test_loss_panel(set));
  p.panels.push_back(epoch_panel("share of stored weights changed per step (seed 0)", "fraction (log)", set.first_seed(),
                                 [](const EpochLog& e) { return std::max(e.update_fraction, 1e-7); }, true, true));
  p.arms = set.all();
  return p;
}

PartResult run_5b(const RunOptions& o, const Data& d) {
  PartResult p;
  p.id = "5b";
  p.title = "Sun et al. 2019: hybrid FP8 (HFP8) against e5m2 everywhere";
  p.citation = "X. Sun, J. Choi, C.-Y. Chen, N. Wang, S. Venkataramani, V. Srinivasan, X. Cui, W. Zhang, "
               "K. Gopalakrishnan. Hybrid 8-bit Floating Point (HFP8) Training and Inference for Deep "
               "Neural Networks. NeurIPS 2019";
  p.claim = "The forward pass needs precision more than range (e4m3 with a shifted bias), the backward "
            "pass range more than precision (e5m2); the hybrid trains better than e5m2 everywhere.";
  const int64_t epochs = o.quick ? 1 : kEpochs, limit = o.quick ? kQuickLimit : kLimit;
  const int seeds = part_seeds(o);
  p.paper_figure = abstract_figure(
      "research.ibm.com/publications/hybrid-8-bit-floating-point-hfp8-training-and-inference-for-deep-neural-networks",
      "significant degradation is observed when popular networks such as MobileNet and Transformer are trained using "
      "FP8. This degradation is due to the inherent precision requirement difference in the forward and backward "
      "passes of DNN training. [...] We demonstrate, using HFP8, the successful training of deep learning models "
      "across a whole spectrum of applications including Image Classification, Object Detection, Language and Speech "
      "without accuracy degradation");
  const auto hfp8 = qtorch::formats::hfp8_e4m3();
  p.recipe = fmt::format("the 5a recipe with the copy (MLP, lr 0.05 momentum 0.9, {} epoch(s){}, M = ACC = "
                         "e6m9 stochastic, loss x1000); HFP8: W = A = {} (max {}) nearest, G = E = e5m2 nearest; "
                         "against W = G = A = E = e5m2 nearest; train loss over the same training images at the end; "
                         "{}; HFP8 against e5m2 reported as a trend with its paired t test",
                         epochs, limit_text(limit), qtorch::to_string(hfp8), hfp8.max_value(),
                         seeds_text(o, seeds, kDefaultSeeds));
  ArmConfig f32;
  f32.training.epochs = epochs;
  f32.training.optimizer.lr = 0.05;
  f32.training.optimizer.momentum = 0.9;
  f32.limit_train = limit;
  f32.eval_train_loss = true;
  f32.name = "fp32";
  ArmConfig e5 = fp8_arm(epochs, limit);
  e5.eval_train_loss = true;
  e5.name = "e5m2 everywhere";
  ArmConfig h = e5;
  h.name = "HFP8";
  set_roles(h.recipe, {Role::Weight, Role::Activation}, role(hfp8, qtorch::Rounding::Nearest));
  ArmSet set = run_seeded({f32, e5, h}, seeds, d, o);
  auto tl = [](const ArmResult& r) { return r.train_loss.value_or(0); };
  accuracy_table(p, set, "fp32");
  add_column(p, set, "train loss per seed", [&](const std::string& n) { return joined(per_seed(set, n, tl), f4); });
  add_column(p, set, "train loss mean (sd)", [&](const std::string& n) {
    const Stats s = stats(per_seed(set, n, tl));
    return fmt::format("{} ({})", f4(s.mean), f4(s.sd));
  });
  add_column(p, set, "A saturated", [&](const std::string& n) {
    return sci(set.mean(n, [](auto& x) { return x.activation_counts.saturation_fraction(); }));
  });
  // HFP8 - e5m2, paired by seed: train loss (decided by the paired t test) and test accuracy.
  const Stats dl = paired(set, "HFP8", e5.name, tl), da = paired(set, "HFP8", e5.name);
  const size_t n = dl.v.size();
  const double crit = n >= 2 ? t_critical95(n) : INFINITY;
  const double tl_t = t_statistic(dl), ta_t = t_statistic(da);
  // The mechanism, at every size: e4m3 with bias 11 (max 30) holds this model's activations
  // without saturating.
  const double sat = set.mean("HFP8", [](auto& x) { return x.activation_counts.saturation_fraction(); });
  p.check(fmt::format("HFP8's forward format holds the activations: saturated share <= {:g}", kSaturation), sci(sat),
          sat <= kSaturation);
  if (!o.quick) {
    const Stats g = paired(set, "HFP8", "fp32");
    auto ok = [](double x) { return x >= -kHfp8Tolerance; };
    p.check(fmt::format("HFP8 trains without accuracy degradation: mean paired gap to fp32 >= -{:.1f} point",
                        kHfp8Tolerance),
            describe(g, ok), ok(g.mean));
  }
  // HFP8 against e5m2 everywhere: a trend, reported with its paired t, not a criterion. The
  // calibration (seeds 100-102) found no difference to decide: train loss +0.0001 (sd 0.017),
  // test accuracy +0.02 (sd 1.17); no affordable number of seeds would decide a difference of
  // that size (README, part 5b).
  auto decided = [&](double t) { return n >= 2 && std::fabs(t) >= crit; };
  p.notes.push_back(fmt::format("trend, not a criterion: train loss HFP8 - e5m2 {} (per seed {}; sd {}), paired t = "
                                "{:.2f} against a 95% critical value of {:.2f} for {} seeds: {}",
                                sf4(dl.mean), joined(dl.v, sf4), f4(dl.sd), tl_t, crit, n,
                                decided(tl_t) ? "decided" : "not decided"));
  p.notes.push_back(fmt::format("trend, not a criterion: test accuracy HFP8 - e5m2 {}; paired t = {:.2f}: {}",
                                describe(da), ta_t, decided(ta_t) ? "decided" : "not decided"));
  p.panels.push_back(test_loss_panel(set));
  p.panels.push_back(band_panel("running train loss (mean, band: +- sd)", "loss", set.grouped(),
                                [](const EpochLog& e) { return e.train_loss; }, true));
  p.arms = set.all();
  return p;
}

}  // namespace qrepro
