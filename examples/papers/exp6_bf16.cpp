// Experiment 6, Kalamkar et al. 2019: bfloat16 training matches float32 when the update goes
// to a float32 master copy; pure bf16 weights lose small updates unless rounded stochastically.
//
// Thresholds: calibrated on seeds 100-102 (`qrepro 6 --seed-base 100 --seeds 3`, and with
// --quick), judged on the mean of the held-out seeds 0-4 (the default). Figures in the README.

#include "examples/papers/experiments.h"

namespace qrepro {

namespace {

constexpr int64_t kEpochs = 3, kLimit = 30000, kQuickLimit = 20000;
// Calibrated on seeds 100-102 (`qrepro 6 --seed-base 100 --seeds 3`, 24 s): master copy - fp32
// -0.02 (sd 0.03); pure bf16 stochastic W - fp32 +0.02 (sd 0.11): within 1 point; pure bf16
// nearest - fp32 -5.53 (per seed -6.35 / -5.02 / -5.23, sd 0.72, se5 0.32): loses >= 3 points.
constexpr double kTolerance = 1.0;
constexpr double kNearestLoss = 3.0;
// Quick (1 epoch on 20 000 images; `qrepro all --quick --seed-base 100 --seeds 3`): pure bf16
// nearest changes 0.616 / 0.614 / 0.613 of the share of weights per step that the master copy
// changes (0.49 at full size): below 0.8.
constexpr double kQuickUpdateRatio = 0.8;

}  // namespace

PartResult run_6(const RunOptions& o, const Data& d) {
  PartResult p;
  p.id = "6";
  p.title = "Kalamkar et al. 2019: bfloat16 with and without a float32 master copy";
  p.citation = "D. Kalamkar, D. Mudigere, N. Mellempudi, D. Das, K. Banerjee, S. Avancha, et al. A Study "
               "of BFLOAT16 for Deep Learning Training. arXiv:1905.12322, 2019";
  p.claim = "bf16 (8 exponent bits, 7 mantissa bits) for weights, activations, errors and gradients "
            "trains as well as float32 with a float32 master copy of the weights; the 8-bit "
            "significand alone cannot hold small updates.";
  const int64_t epochs = o.quick ? 1 : kEpochs, limit = o.quick ? kQuickLimit : kLimit;
  const int seeds = part_seeds(o);
  p.paper_figure = abstract_figure(
      "deepai.com/publication/a-study-of-bfloat16-for-deep-learning-training",
      "deep learning training using BFLOAT16 tensors achieves the same state-of-the-art (SOTA) results across domains "
      "as FP32 tensors in the same number of iterations and with no changes to hyper-parameters");
  p.recipe = fmt::format("MLP 784-256-10, SGD lr 0.01 no momentum, batch 128, {} epoch(s) on the first {} images; "
                         "W = G = A = E = bf16 (e8m7 IEEE) nearest; master: the update goes to a float32 copy; pure: "
                         "W updated in place, rounded to nearest or stochastically; {}",
                         epochs, limit, seeds_text(o, seeds, kDefaultSeeds));
  ArmConfig base;
  base.training.epochs = epochs;
  base.training.optimizer.lr = 0.01;
  base.limit_train = limit;
  ArmConfig f32 = base;
  f32.name = "fp32";
  const qtorch::FloatingPoint bf16 = qtorch::formats::bf16();
  ArmConfig master = base;
  master.name = "bf16 + fp32 master";
  set_roles(master.recipe, {Role::Weight, Role::Grad, Role::Activation, Role::Error}, role(bf16, qtorch::Rounding::Nearest));
  master.recipe.master_weights = true;
  ArmConfig pure = master;
  pure.name = "pure bf16 nearest";
  pure.recipe.master_weights = false;
  ArmConfig pure_sr = pure;
  pure_sr.name = "pure bf16 stochastic W";
  set_roles(pure_sr.recipe, {Role::Weight}, role(bf16, qtorch::Rounding::Stochastic));
  ArmSet set = run_seeded({f32, master, pure, pure_sr}, seeds, d, o);
  accuracy_table(p, set, "fp32");
  auto frac = [&](const std::string& n) { return set.mean(n, [](auto& x) { return x.last().update_fraction; }); };
  add_column(p, set, "update frac (last epoch, mean)", [&](const std::string& n) { return sci(frac(n)); });
  if (o.quick) {
    const double fp = frac(pure.name), fm = frac(master.name);
    p.check(fmt::format("pure bf16 nearest changes under {:.2f}x the share of weights per step that the master copy "
                        "changes (updates below half an ulp are rounded away)",
                        kQuickUpdateRatio),
            fmt::format("{} vs {} (ratio {:.3f})", sci(fp), sci(fm), fm > 0 ? fp / fm : 0.0), fp < kQuickUpdateRatio * fm);
  } else {
    auto ok = [](double g) { return g >= -kTolerance; };
    auto loses = [](double g) { return g <= -kNearestLoss; };
    const Stats gm = paired(set, master.name, "fp32"), gp = paired(set, pure.name, "fp32");
    const Stats gs = paired(set, pure_sr.name, "fp32");
    p.check(fmt::format("bf16 with a float32 master copy: mean paired gap to fp32 >= -{:.1f} point", kTolerance),
            describe(gm, ok), ok(gm.mean));
    p.check(fmt::format("pure bf16, nearest, updated in place: mean paired gap <= -{:.1f} points", kNearestLoss),
            describe(gp, loses), loses(gp.mean));
    p.check(fmt::format("pure bf16 with stochastic rounding of the update: mean paired gap >= -{:.1f} point", kTolerance),
            describe(gs, ok), ok(gs.mean));
  }
  p.notes.push_back("with lr 0.01, lr*|grad| is below half a bf16 ulp (2^-8 relative) for most weights, "
                    "so nearest rounds the update away; see the update fraction");
  p.panels.push_back(test_loss_panel(set));
  p.panels.push_back(epoch_panel("share of stored weights changed per step (seed 0)", "fraction (log)", set.first_seed(),
                                 [](const EpochLog& e) { return std::max(e.update_fraction, 1e-7); }, true, true));
  p.arms = set.all();
  return p;
}

}  // namespace qrepro
