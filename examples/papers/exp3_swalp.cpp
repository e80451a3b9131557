// Experiment 3, SWALP (Yang et al. 2019): an average of low-precision SGD iterates, kept in
// float32, converges to the float32 solution although each iterate stays noisy. (a) softmax
// regression, without and with weight decay (the strongly convex case of the paper's theory);
// (b) an 8-bit block floating point MLP with the SWALP schedule against low-precision SGD.
//
// Thresholds: calibrated on seeds 100-102 (`qrepro 3 --seed-base 100 --seeds 3`, and with
// --quick), judged on the mean of the held-out seeds 0-4 (the default). Figures in the README.

#include <cmath>

#include "examples/papers/experiments.h"

namespace qrepro {

namespace {

constexpr const char* kSwalp =
    "G. Yang, T. Zhang, P. Kirichenko, J. Bai, A. G. Wilson, C. De Sa. SWALP: Stochastic Weight "
    "Averaging in Low-Precision Training. ICML 2019 (arXiv:1904.11943)";

// 3a, calibrated on seeds 100-102 (`qrepro 3a --seed-base 100 --seeds 3`, 34 s); se5 = the
// calibration sd / sqrt(5):
// - the fix<8,6> iterate's train loss minus the fp32 average's: +0.1069 (per seed +0.0920 /
//   +0.1142 / +0.1145): the iterate stays noisy, >= +0.04 (the original criterion).
// - share of that gap closed by averaging, no decay: 0.476 (per seed 0.42 / 0.50 / 0.49, sd 0.04,
//   se5 0.02): >= 0.40. With decay 0.01: 0.911 (0.88 / 0.88 / 0.94): >= 0.80, and above the
//   share without decay (the strongly convex case is where the paper's theory applies).
// - test accuracy, average minus iterate, no decay: +1.12 (per seed +0.99 / +0.98 / +1.38, sd 0.23,
//   se5 0.10): >= +0.5 (seeds 0-9 of the earlier single-arm run gave +1.81 on the means).
// Weight decay 0.01 was chosen before the calibration, on seed 100 alone (shares 0.88 with decay,
// 0.42 without): with lr 0.1 it pulls a flat direction back in about 1 000 steps, 2 epochs.
constexpr double kIterateNoise = 0.04;
constexpr double kClosedNoDecay = 0.40;
constexpr double kClosedDecay = 0.80;
constexpr double kAverageAccGain = 0.5;
constexpr double kWeightDecay = 1e-2;
// 3a quick (10 epochs on 20 000 images, one seed; `qrepro 3a --quick --seed-base 100 --seeds 3`):
// share of the iterate's gap closed 0.44 / 0.64 / 0.79 per seed: >= 0.2, averaging removes part of
// the noise.
constexpr int64_t kQuickLimit = 20000;
constexpr double kQuickClosed = 0.2;
// 3b, calibrated on seeds 100-102 (`qrepro 3b --seed-base 100 --seeds 3`, 30 000 images, 77 s):
// - SWALP average - fp32 SGD: -0.11 (per seed -0.08 / -0.23 / -0.01, sd 0.11): "matches" within
//   1 point.
// - SWALP average - SGD-LP: +0.02 (per seed -0.02 / -0.01 / +0.10, sd 0.07; paired t 0.61). A
//   "mean > 0" test would be a coin flip, so the criterion asks for a decided win: a positive
//   mean with a paired t at the two-sided 95% critical value (2.78 for 5 seeds). The
//   calibration does not reach it; we expect this criterion to fail (README, part 3b).
constexpr double kSwalpTolerance = 1.0;

// (L_it - L_avg) / (L_it - L_ref): the share of the iterate's train-loss gap to the reference
// (the fp32 iterates averaged the same way) that averaging closes.
double closed_share(double it, double avg, double ref) { return it > ref ? (it - avg) / (it - ref) : 0.0; }

double train_loss(const ArmResult& r) { return r.train_loss.value_or(0); }
double avg_loss(const ArmResult& r) { return r.avg_train_loss.value_or(0); }
double avg_acc(const ArmResult& r) { return r.avg_test_accuracy.value_or(0); }

}  // namespace

// The paper's result table as the authors' repository gives it (checked on 7 December 2026).
const std::string kSwalpResults =
    "Results (the authors' repository github.com/stevenygd/SWALP, README, \"Results\", checked; the paper's PDF "
    "tables were not reached): test error in %, VGG16 with 8-bit small-block BFP, CIFAR-10: SGD-FP 6.81+-0.09, "
    "SWA-FP 6.51+-0.14, SGD-LP 7.61+-0.15, SWALP 6.70+-0.12; CIFAR-100: 27.23+-0.17, 25.93+-0.21, 29.59+-0.32, "
    "26.65+-0.29. SWALP's error is 0.91 and 2.94 points below SGD-LP's and 0.11 and 0.58 below SGD-FP's. In the "
    "authors' train.py, SGD-LP is the iterate at the start of averaging, after the learning rate has decayed "
    "linearly to 0.01x; averaging then runs once per epoch at swa_lr (0.01 for lr 0.05: 0.2x), with weight decay "
    "5e-4.";

PartResult run_3a(const RunOptions& o, const Data& d) {
  PartResult p;
  p.id = "3a";
  p.title = "SWALP: averaging fix<8,6> iterates of softmax regression, without and with weight decay";
  p.citation = kSwalp;
  p.claim = "The average of low-precision SGD iterates converges to a noise ball asymptotically smaller than "
            "low-precision SGD's in strongly convex settings (arbitrarily close to the optimum for quadratic "
            "objectives), while the iterates themselves stay a quantization-noise distance away.";
  p.paper_figure = abstract_figure("arxiv.org/abs/1904.11943 (the abstract, also on the first page of the paper at pdfslide.us)",
                                   "SWALP is easy to implement and can match the performance of full-precision SGD "
                                   "even with all numbers quantized down to 8 bits, including the gradient "
                                   "accumulators. Additionally, we show that SWALP converges arbitrarily close to the "
                                   "optimal solution for quadratic objectives, and to a noise ball asymptotically "
                                   "smaller than low precision SGD in strongly convex settings",
                                   kSwalpResults);
  const int64_t epochs = 10, from = 6;
  const int64_t limit = o.quick ? kQuickLimit : -1;  // --quick: the same 10 epochs on 20 000 images, one seed
  const int seeds = part_seeds(o);
  p.recipe = fmt::format("softmax regression 784-10 on pixels scaled to [-1, 1], SGD lr 0.1 no momentum, batch 128, "
                         "{} epochs on {}; W = fix<8,6> stochastic (quantum 1/64) for weights and "
                         "bias, updated in place; a float32 average of the stored weights every 10 steps from the "
                         "start of epoch {}, in the fp32 arms too; weight decay {:g} in the 'wd' arms (strongly "
                         "convex); train loss (cross-entropy, without the decay term) over the whole training set "
                         "at the end; {}",
                         epochs, limit > 0 ? fmt::format("the first {} images", limit) : "all 60 000 images", from,
                         kWeightDecay, seeds_text(o, seeds, kDefaultSeeds));
  ArmConfig base;
  base.model = ModelKind::Softmax;
  base.training.epochs = epochs;
  base.training.optimizer.lr = 0.1;
  base.limit_train = limit;
  base.eval_train_loss = true;
  base.input = InputScale::Symmetric;
  base.training.averaging = averaging(from, 10);  // read-only: the fp32 runs are unchanged, their average a reference
  ArmConfig f32 = base, lp = base;
  f32.name = "fp32";
  lp.name = "fix<8,6>";
  set_roles(lp.recipe, {Role::Weight}, role(fix(8, 6), qtorch::Rounding::Stochastic));
  ArmConfig f32wd = f32, lpwd = lp;
  f32wd.name = "fp32 wd";
  lpwd.name = "fix<8,6> wd";
  f32wd.training.optimizer.weight_decay = lpwd.training.optimizer.weight_decay = kWeightDecay;
  ArmSet set = run_seeded({f32, lp, f32wd, lpwd}, seeds, d, o);

  p.columns = {"model"};
  for (const auto& c : stat_columns("train loss")) p.columns.push_back(c);
  p.columns.push_back("test acc % (mean)");
  for (const std::string& n : set.names())
    for (bool averaged : {false, true}) {
      std::vector<std::string> row = {n + (averaged ? ", float32 average" : ", last iterate")};
      for (const auto& c : stat_cells(stats(per_seed(set, n, averaged ? avg_loss : train_loss)), f4)) row.push_back(c);
      row.push_back(pct(averaged ? set.mean(n, avg_acc) : set.acc(n)));
      p.rows.push_back(row);
    }

  // The share of the iterate's gap closed, on the means and per seed.
  auto share = [&](const std::string& lpn, const std::string& refn) {
    const auto it = per_seed(set, lpn, train_loss), av = per_seed(set, lpn, avg_loss), ref = per_seed(set, refn, avg_loss);
    std::vector<double> per;
    for (size_t i = 0; i < it.size(); ++i) per.push_back(closed_share(it[i], av[i], ref[i]));
    return std::pair{closed_share(set.mean(lpn, train_loss), set.mean(lpn, avg_loss), set.mean(refn, avg_loss)), per};
  };
  const auto [c0, c0s] = share("fix<8,6>", "fp32");
  const auto [c1, c1s] = share("fix<8,6> wd", "fp32 wd");
  auto two = [](double x) { return fmt::format("{:.2f}", x); };
  auto share_text = [&](double c, const std::vector<double>& per, const std::string& lpn, const std::string& refn) {
    return fmt::format("{:.3f} (iterate {}, average {}, fp32 average {}; per seed {})", c, f4(set.mean(lpn, train_loss)),
                       f4(set.mean(lpn, avg_loss)), f4(set.mean(refn, avg_loss)), joined(per, two));
  };
  if (o.quick) {
    p.check(fmt::format("averaging removes part of the iterate's noise: share of the iterate's train-loss gap to the "
                        "fp32 average closed >= {:.2f}",
                        kQuickClosed),
            share_text(c0, c0s, "fix<8,6>", "fp32"), c0 >= kQuickClosed);
  } else {
    const Stats it_vs_avg32 = stats([&] {
      std::vector<double> v;
      const auto it = per_seed(set, "fix<8,6>", train_loss), ref = per_seed(set, "fp32", avg_loss);
      for (size_t i = 0; i < it.size(); ++i) v.push_back(it[i] - ref[i]);
      return v;
    }());
    p.check(fmt::format("the fix<8,6> iterate stays noisy: its train loss >= the fp32 average's + {:.2f} (mean)",
                        kIterateNoise),
            fmt::format("{:+.4f} (per seed {})", it_vs_avg32.mean, joined(it_vs_avg32.v, sf4)),
            it_vs_avg32.mean >= kIterateNoise);
    p.check(fmt::format("no decay: averaging closes >= {:.2f} of the iterate's train-loss gap to the fp32 iterates "
                        "averaged the same way (on the means)",
                        kClosedNoDecay),
            share_text(c0, c0s, "fix<8,6>", "fp32"), c0 >= kClosedNoDecay);
    p.check(fmt::format("weight decay {:g} (strongly convex, the paper's setting): averaging closes >= {:.2f} of the "
                        "gap (on the means)",
                        kWeightDecay, kClosedDecay),
            share_text(c1, c1s, "fix<8,6> wd", "fp32 wd"), c1 >= kClosedDecay);
    p.check("averaging closes more of the gap with weight decay than without (the theory's strong convexity)",
            fmt::format("{:.3f} vs {:.3f}", c1, c0), c1 > c0);
    const Stats g = stats(per_seed(set, "fix<8,6>", [](const ArmResult& r) { return avg_acc(r) - r.test_accuracy; }));
    auto gains = [](double x) { return x >= kAverageAccGain; };
    p.check(fmt::format("no decay: test accuracy of the average >= the iterate's + {:.1f} points (mean)", kAverageAccGain),
            describe(g, gains), gains(g.mean));
  }
  p.notes.push_back("stochastic rounding is unbiased, so the iterates scatter around the float32 path; without "
                    "decay, the weights of near-constant pixels have almost no curvature and their rounding noise "
                    "drifts instead of averaging out (README, part 3a)");
  p.panels.push_back(test_loss_panel(set));
  Panel avg = band_panel("test accuracy of the float32 averages (mean over seeds, band: +- sd)", std::string(1, '%'), set.grouped(),
                         [](const EpochLog& e) { return e.avg_test_accuracy.value_or(NAN); }, true);
  for (auto& b : avg.bands) {
    b.name += " average";
    std::erase_if(b.points, [](const auto& pt) { return std::isnan(pt[1]); });
  }
  p.panels.push_back(avg);
  p.arms = set.all();
  return p;
}

PartResult run_3b(const RunOptions& o, const Data& d) {
  PartResult p;
  p.id = "3b";
  p.title = "SWALP: bfp<8,0> MLP with the SWALP schedule, averaged, against low-precision SGD";
  p.citation = kSwalp;
  p.claim = "Training with 8-bit block floating point for weights, gradients, momentum, activations and errors, "
            "then averaging the iterates (SWALP), matches float32 SGD and beats low-precision SGD.";
  p.paper_figure = abstract_figure("arxiv.org/abs/1904.11943 (the abstract, also on the first page of the paper at pdfslide.us)",
                                   "SWALP is easy to implement and can match the performance of full-precision SGD "
                                   "even with all numbers quantized down to 8 bits, including the gradient "
                                   "accumulators. Additionally, we show that SWALP converges arbitrarily close to the "
                                   "optimal solution for quadratic objectives, and to a noise ball asymptotically "
                                   "smaller than low precision SGD in strongly convex settings",
                                   kSwalpResults);
  const int64_t epochs = o.quick ? 3 : 10, decay = o.quick ? 2 : 6;
  // 30 000 images: 5 seeds of 3 arms on all 60 000 took 3.5 minutes, and the effects compared
  // here are a fraction of a point either way (README, part 3b).
  const int64_t limit = o.quick ? 10000 : 30000;
  const int seeds = part_seeds(o);
  p.recipe = fmt::format("MLP 784-256-10, SGD lr 0.05 momentum 0.9, batch 128, {} epochs{}; SWALP schedule (lr "
                         "constant to epoch {}, linear down to 0.2x by epoch {:g}, then constant); W = G = M = A = E = "
                         "bfp<8,0> stochastic; SWALP: float32 average of the stored weights every 10 steps from epoch "
                         "{} (evaluated with the same activation quantizers); SGD-LP: the same low-precision run "
                         "with the same schedule and no averaging (a separate run: evaluating the average draws "
                         "random numbers, so the averaged run's iterate is not the same run). Not the paper's "
                         "schedule: its SGD-LP decays to 0.01x before averaging starts, where ours keeps 0.2x, and it "
                         "uses weight decay 5e-4 (see the paper's figures above); {}",
                         epochs, limit > 0 ? fmt::format(" on the first {} images", limit) : "", decay / 2, decay * 0.9,
                         decay + 1, seeds_text(o, seeds, kDefaultSeeds));
  ArmConfig base;
  base.training.epochs = epochs;
  base.training.optimizer.lr = 0.05;
  base.training.optimizer.momentum = 0.9;
  base.limit_train = limit;
  base.training.schedule = {Schedule::Kind::Swalp, decay, 0.2};
  ArmConfig f32 = base, lp = base, sgdlp = base;
  f32.name = "fp32 SGD";
  lp.name = "SWALP bfp<8,0>";
  set_roles(lp.recipe, {Role::Weight, Role::Grad, Role::Momentum, Role::Activation, Role::Error},
            role(bfp(8, 0), qtorch::Rounding::Stochastic));
  lp.training.averaging = averaging(decay + 1, 10);
  sgdlp = lp;
  sgdlp.name = "SGD-LP bfp<8,0>";
  sgdlp.training.averaging = {};
  ArmSet set = run_seeded({f32, lp, sgdlp}, seeds, d, o);

  // The SWALP arm's figure is its average; the others' their last iterate.
  auto final_acc = [](const ArmResult& r) { return r.avg_test_accuracy.value_or(r.test_accuracy); };
  p.columns = {"arm"};
  for (const auto& c : stat_columns("test acc %")) p.columns.push_back(c);
  p.columns.insert(p.columns.end(), {"vs fp32 SGD (paired mean)", "last iterate acc % (mean)"});
  for (const auto& n : set.names()) {
    std::vector<std::string> row = {n + (n == lp.name ? " (average)" : "")};
    for (const auto& c : stat_cells(stats(per_seed(set, n, final_acc)), pct)) row.push_back(c);
    row.push_back(n == f32.name ? "0" : signed_pts(paired(set, n, f32.name, final_acc).mean));
    row.push_back(pct(set.acc(n)));
    p.rows.push_back(row);
  }
  const Stats vs32 = paired(set, lp.name, f32.name, final_acc);
  auto close = [](double g) { return g >= -kSwalpTolerance; };
  p.check(fmt::format("SWALP matches fp32 SGD: mean paired gap >= -{:.1f} point", kSwalpTolerance), describe(vs32, close),
          close(vs32.mean));
  if (!o.quick) {
    const Stats vslp = paired(set, lp.name, sgdlp.name, final_acc);
    const double t = t_statistic(vslp), crit = vslp.v.size() > 1 ? t_critical95(vslp.v.size()) : INFINITY;
    p.check(fmt::format("SWALP beats SGD-LP (same schedule, no averaging): a positive mean paired difference with "
                        "paired t >= {:.2f} (two-sided 95%, {} seeds)",
                        crit, vslp.v.size()),
            describe(vslp, [](double g) { return g > 0; }) + fmt::format("; paired t {:.2f}", t),
            vslp.mean > 0 && t >= crit);
  }
  p.panels.push_back(test_loss_panel(set));
  Panel avg = band_panel("test accuracy: SWALP's average, fp32 SGD and SGD-LP (mean, band: +- sd)", std::string(1, '%'),
                         set.grouped({lp.name}), [](const EpochLog& e) { return e.avg_test_accuracy.value_or(NAN); }, true);
  for (auto& b : avg.bands) std::erase_if(b.points, [](const auto& pt) { return std::isnan(pt[1]); });
  // The two unaveraged arms from epoch 1 on (the initial model's 10% would flatten the panel).
  Panel it = band_panel("", "", set.grouped({f32.name, sgdlp.name}), [](const EpochLog& e) { return e.test_accuracy; },
                        true);
  for (auto& b : it.bands) avg.bands.push_back(b);
  p.panels.push_back(avg);
  p.arms = set.all();
  return p;
}

}  // namespace qrepro
