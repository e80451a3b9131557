// Experiment 1, Gupta et al. 2015: with 16-bit fixed point <16,8>, round-to-nearest loses
// every small update (and every small error), stochastic rounding keeps them in expectation;
// with Gupta's own 14 fractional bits for weights, gradients and errors, stochastic rounding
// matches float32.
//
// Thresholds: calibrated on seeds 100-102 (`qrepro 1 --seed-base 100 --seeds 3`, and with
// --quick for the quick thresholds), judged on the mean of the held-out seeds 0-4 (the
// default). The calibration figures stand next to each threshold and in the README, part 1.

#include <algorithm>

#include "examples/papers/experiments.h"

namespace qrepro {

namespace {

constexpr const char* kGupta =
    "S. Gupta, A. Agrawal, K. Gopalakrishnan, P. Narayanan. Deep Learning with Limited "
    "Numerical Precision. ICML 2015 (arXiv:1502.02551)";
const std::string kGuptaFigure = abstract_figure(
    "scifaro.com/en/abs/deep-learning-with-limited-numerical-precision-1502.02551",
    "deep networks can be trained using only 16-bit wide fixed-point number representation when using stochastic "
    "rounding, and incur little to no degradation in the classification accuracy");

// Full size: 1a and the 1b MLP train 3 epochs on the first 30 000 images; 1b's LeNet 2 epochs
// on all 60 000 (LeNet costs about 10x the MLP per image: the 5 epochs of the earlier single-seed
// run would take 20 minutes over 5 seeds). Shorter runs leave LeNet on the steep part of its
// learning curve, where the stochastic arm lags far behind: at seed 100, 3 epochs on 20 000
// images gave fp32 70.30, stochastic 64.13; 2 epochs on 40 000 gave 76.53 and 63.52; 2 epochs on
// 60 000 gave 81.99 and 76.34. Quick: the MLP only, 1 epoch on 20 000 images.
constexpr int64_t kEpochs = 3, kLimit = 30000, kLenetEpochs = 2, kLenetLimit = -1;
constexpr int64_t kQuickLimit = 20000;

// 1a: "matches float32" within 1.5 points (the original criterion). Calibration (seeds
// 100-102, `qrepro 1a --seed-base 100 --seeds 3`): stochastic - fp32 +0.45 / +0.32 / -0.02, mean
// +0.25; with --quick +0.19 (-0.14 / +0.15 / +0.57). The two nearest criteria are exact.
constexpr double k1aStochasticTolerance = 1.5;

// 1b, full size, calibrated on seeds 100-102 (`qrepro 1b --seed-base 100 --seeds 3`, 734 s on
// the loaded machine); se5 = the calibration sd / sqrt(5):
// - nearest: 10.00 on every seed, MLP and LeNet: collapses to chance, <= 15% on the mean.
// - share of nearest's gap to fp32 closed by stochastic rounding: MLP 0.972 (0.98 / 0.99 / 0.95),
//   LeNet 0.943 (0.92 / 0.95 / 0.96): >= 0.90 (the issue measured about 0.95).
// - MLP stochastic - fp32: -1.99 (per seed -1.30 / -1.05 / -3.61, sd 1.41, se5 0.63): bound -4.0.
// - LeNet stochastic - fp32: -3.96 (per seed -5.65 / -3.36 / -2.88, sd 1.48, se5 0.66): bound
//   -6.0, about 3 se5 below the calibration mean.
// - Gupta-like LeNet (W = G = E = fix<16,14>, A = fix<16,8>) - fp32: -0.47 (per seed -0.21 /
//   -0.25 / -0.95, sd 0.42): the "within 1 point of fp32", >= -1.0.
constexpr double kChance = 15.0;
constexpr double kMlpStochasticBound = -4.0;
constexpr double kLenetStochasticBound = -6.0;
constexpr double kGapClosed = 0.90;
constexpr double kGuptaLikeTolerance = 1.0;

// 1b, quick (the MLP only, 1 epoch on 20 000 images; `qrepro all --quick --seed-base 100 --seeds
// 3`): share closed 0.94 / 0.99 / 0.94: >= 0.6. The MLP's nearest arm reaches 54% at that size
// (its weights have not saturated yet), so the chance criterion is judged at full size only.
constexpr double kQuickGapClosed = 0.6;

ArmConfig mlp_base(const RunOptions& o, double lr) {
  ArmConfig a;
  a.training.epochs = o.quick ? 1 : kEpochs;
  a.training.optimizer.lr = lr;
  a.limit_train = o.quick ? kQuickLimit : kLimit;
  return a;
}

// (x - rn) / (ref - rn): the share of the nearest arm's gap to float32 that `x` closes.
double gap_closed(double x, double rn, double ref) { return ref > rn ? (x - rn) / (ref - rn) : 0.0; }

// Per seed and on the means: the share of the nearest arm's gap closed by `arm`.
std::pair<double, std::vector<double>> closed(const ArmSet& set, const std::string& arm, const std::string& rn,
                                              const std::string& ref) {
  const auto x = accs(set, arm), n = accs(set, rn), f = accs(set, ref);
  std::vector<double> per;
  for (size_t i = 0; i < x.size(); ++i) per.push_back(gap_closed(x[i], n[i], f[i]));
  return {gap_closed(set.acc(arm), set.acc(rn), set.acc(ref)), per};
}

std::string two(double x) { return fmt::format("{:.2f}", x); }

}  // namespace

PartResult run_1a(const RunOptions& o, const Data& d) {
  PartResult p;
  p.id = "1a";
  p.title = "Gupta et al. 2015: fix<16,8> weights updated in place, nearest vs stochastic";
  p.citation = kGupta;
  p.claim = "With round-to-nearest, updates smaller than half a quantum (2^-9 for <16,8>) are lost "
            "and training stalls; stochastic rounding keeps them in expectation and matches float32.";
  p.paper_figure = kGuptaFigure;
  const int seeds = part_seeds(o);
  const int64_t epochs = o.quick ? 1 : kEpochs, limit = o.quick ? kQuickLimit : kLimit;
  p.recipe = fmt::format("MLP 784-256-10, SGD lr 0.01 no momentum, batch 128, {} epoch(s) on the first {} images; "
                         "only W = fix<16,8> (updated in place, initial weights quantized); {}",
                         epochs, limit, seeds_text(o, seeds, kDefaultSeeds));
  ArmConfig base = mlp_base(o, 0.01);
  ArmConfig f32 = base, rn = base, sr = base;
  f32.name = "fp32";
  rn.name = "fix16 nearest";
  set_roles(rn.recipe, {Role::Weight}, role(fix(16, 8), qtorch::Rounding::Nearest));
  sr.name = "fix16 stochastic";
  set_roles(sr.recipe, {Role::Weight}, role(fix(16, 8), qtorch::Rounding::Stochastic));
  ArmSet set = run_seeded({f32, rn, sr}, seeds, d, o);

  accuracy_table(p, set, "fp32");
  add_column(p, set, "update frac (step 1, mean)",
             [&](const std::string& n) { return sci(set.mean(n, [](auto& x) { return x.first_step_update_fraction; })); });
  add_column(p, set, "steps changing W after step 1 (seed 0)", [&](const std::string& n) {
    const auto& r = set.runs(n).front();
    return fmt::format("{} of {}", r.steps_changing_after_first, r.steps - 1);
  });
  bool frozen = true, identical = true, same_acc = true;
  int64_t changing = 0;
  for (const auto& r : set.runs("fix16 nearest")) {
    changing += r.steps_changing_after_first;
    frozen = frozen && r.steps_changing_after_first == 0;
    identical = identical && r.weights_equal_init;
    same_acc = same_acc && r.test_accuracy == r.epochs[0].test_accuracy;
  }
  p.check("nearest: no stored weight changes in any step after the first, on any seed",
          fmt::format("{} steps changed a weight", changing), frozen);
  p.check("nearest: final weights bit-identical to the quantized init, accuracy equal to the init's, on every seed",
          fmt::format("identical={}, same accuracy={}", identical ? "yes" : "no", same_acc ? "yes" : "no"),
          identical && same_acc);
  const Stats gap = paired(set, "fix16 stochastic", "fp32");
  auto ok = [](double g) { return g >= -k1aStochasticTolerance; };
  p.check(fmt::format("stochastic matches fp32: mean paired gap >= -{:.1f} points", k1aStochasticTolerance),
          describe(gap, ok), ok(gap.mean));
  p.notes.push_back("half a quantum of <16,8> is 2^-9 = 0.00195; lr*|grad| = 0.01*|grad| stays below it "
                    "unless |grad| > 0.195, so nearest rounds every update back to the old weight");
  p.panels.push_back(test_loss_panel(set));
  p.panels.push_back(epoch_panel("share of stored weights changed per step (seed 0; 0 drawn at 1e-7)", "fraction (log)",
                                 set.first_seed(),
                                 [](const EpochLog& e) { return std::max(e.update_fraction, 1e-7); }, true, true));
  p.arms = set.all();
  return p;
}

PartResult run_1b(const RunOptions& o, const Data& d) {
  PartResult p;
  p.id = "1b";
  p.title = "Gupta et al. 2015: fix<16,8> weights, gradients, activations and errors";
  p.citation = kGupta;
  p.claim = "Training entirely in 16-bit fixed point works with stochastic rounding (close to float32) and "
            "fails with round-to-nearest. Gupta's 'matches float32' result uses 14 fractional bits.";
  p.paper_figure = kGuptaFigure +
                   " The FL=14 setting of the Gupta-like arm comes from the issue's reading of the paper's MNIST "
                   "experiments, which we could not check against the paper's text for the same reason.";
  const int seeds = part_seeds(o);
  p.recipe = fmt::format("SGD lr 0.1 no momentum, batch 128, {} epoch(s); W = G = A = E = fix<16,8> (A and E after "
                         "every linear and conv output); MLP 784-256-10 on the first {} images{}; {}",
                         o.quick ? 1 : kEpochs, o.quick ? kQuickLimit : kLimit,
                         o.quick ? " (no LeNet at --quick size)"
                                 : fmt::format("; LeNet-5 for {} epochs on all 60 000 images; Gupta-like LeNet "
                                               "arm: W = G = E = fix<16,14> (range +-2), A = fix<16,8>, stochastic",
                                               kLenetEpochs),
                         seeds_text(o, seeds, kDefaultSeeds));
  std::vector<ArmConfig> arms;
  // --quick runs the MLP only: LeNet at lr 0.1 without momentum barely starts learning in one
  // short epoch (fp32 at 22% after 5 000 images, seed 100).
  const std::vector<ModelKind> models = o.quick ? std::vector{ModelKind::Mlp} : std::vector{ModelKind::Mlp, ModelKind::LeNet};
  for (ModelKind m : models) {
    const std::string tag = m == ModelKind::Mlp ? "mlp " : "lenet ";
    ArmConfig base = mlp_base(o, 0.1);
    base.model = m;
    if (m == ModelKind::LeNet) {
      base.limit_train = kLenetLimit;
      base.training.epochs = kLenetEpochs;
    }
    ArmConfig f32 = base;
    f32.name = tag + "fp32";
    arms.push_back(f32);
    for (auto [rname, rnd] : {std::pair{"nearest", qtorch::Rounding::Nearest},
                              std::pair{"stochastic", qtorch::Rounding::Stochastic}}) {
      ArmConfig a = base;
      a.name = tag + "fix16 " + rname;
      set_roles(a.recipe, {Role::Weight, Role::Grad, Role::Activation, Role::Error}, role(fix(16, 8), rnd));
      arms.push_back(a);
    }
    if (m == ModelKind::LeNet) {
      ArmConfig g = base;
      g.name = "lenet Gupta-like FL=14";
      set_roles(g.recipe, {Role::Weight, Role::Grad, Role::Error}, role(fix(16, 14), qtorch::Rounding::Stochastic));
      set_roles(g.recipe, {Role::Activation}, role(fix(16, 8), qtorch::Rounding::Stochastic));
      arms.push_back(g);
    }
  }
  ArmSet set = run_seeded(arms, seeds, d, o);
  p.columns = {"arm"};
  for (const auto& c : stat_columns("test acc %")) p.columns.push_back(c);
  p.columns.insert(p.columns.end(), {"vs fp32 (paired mean)", "E flushed", "G flushed", "W saturated"});
  for (const auto& name : set.names()) {
    const std::string ref = name.substr(0, name.find(' ') + 1) + "fp32";
    std::vector<std::string> row = {name};
    for (const auto& c : stat_cells(stats(accs(set, name)), pct)) row.push_back(c);
    row.push_back(name == ref ? "0" : signed_pts(paired(set, name, ref).mean));
    row.push_back(num(set.mean(name, [](auto& x) { return x.error_counts.flush_fraction(); }), 3));
    row.push_back(num(set.mean(name, [](auto& x) { return x.grad_counts.flush_fraction(); }), 3));
    row.push_back(sci(set.mean(name, [](auto& x) { return x.weight_counts.saturation_fraction(); })));
    p.rows.push_back(row);
  }
  for (std::string tag : o.quick ? std::vector<std::string>{"mlp "} : std::vector<std::string>{"mlp ", "lenet "}) {
    const std::string ref = tag + "fp32", rn = tag + "fix16 nearest", sr = tag + "fix16 stochastic";
    const Stats rn_acc = stats(accs(set, rn));
    auto chance = [](double a) { return a <= kChance; };
    if (!o.quick)  // the MLP's weights need more than one short epoch to saturate (54% at seed 100)
      p.check(fmt::format("{}nearest collapses to chance: mean test accuracy <= {:.0f}%", tag, kChance),
              fmt::format("mean {} (per seed {})", pct(rn_acc.mean), joined(rn_acc.v, pct)), chance(rn_acc.mean));
    const auto [share, per] = closed(set, sr, rn, ref);
    const double need = o.quick ? kQuickGapClosed : kGapClosed;
    p.check(fmt::format("{}stochastic closes >= {:.2f} of nearest's gap to fp32: (SR - nearest) / (fp32 - nearest) "
                        "on the means",
                        tag, need),
            fmt::format("{:.3f} (per seed {})", share, joined(per, two)), share >= need);
    if (o.quick) continue;  // the accuracy bounds below need the full-size runs
    const double bound = tag == "mlp " ? kMlpStochasticBound : kLenetStochasticBound;
    const Stats gap = paired(set, sr, ref);
    auto ok = [bound](double g) { return g >= bound; };
    p.check(fmt::format("{}stochastic <16,8>: mean paired gap to fp32 >= {:.1f} points (calibrated bound)", tag, bound),
            describe(gap, ok), ok(gap.mean));
  }
  if (!o.quick) {
    const Stats g = paired(set, "lenet Gupta-like FL=14", "lenet fp32");
    auto ok = [](double x) { return x >= -kGuptaLikeTolerance; };
    p.check(fmt::format("lenet Gupta-like (W, G, E at FL=14, A at FL=8) within {:.0f} point of fp32: mean paired gap "
                        ">= -{:.0f}",
                        kGuptaLikeTolerance, kGuptaLikeTolerance),
            describe(g, ok), ok(g.mean));
  }
  p.notes.push_back("nearest rounds errors and gradients below 2^-9 to zero and every update below 2^-9 back to the "
                    "old weight (see the flush columns); FL=14 makes the step 64x finer (2^-14)");
  p.panels.push_back(o.quick ? test_loss_panel(set)
                             : test_loss_panel(set, {"mlp fp32", "mlp fix16 stochastic", "lenet fp32",
                                                     "lenet fix16 stochastic", "lenet Gupta-like FL=14"}));
  p.panels.push_back(test_accuracy_panel(set));
  p.arms = set.all();
  return p;
}

}  // namespace qrepro
