// Experiment 7, block-scaled ("microscaling") formats. (a) Rouhani et al. 2023: MXFP8 (e4m3
// forward, e5m2 backward) for weights, activations, errors and gradients trains like float32,
// MXFP6 nearly so. (b) MXFP4 cast directly (nearest-even on every role) loses clearly. (c) Tseng
// et al. 2025: stochastic rounding of the backward quantizers (errors and gradients) recovers
// most of that loss. (d) NVFP4 (blocks of 16, an e4m3 scale per block and a float32 tensor
// scale) loses less than MXFP4 (blocks of 32, power-of-two scales) with the same rounding.
//
// Every threshold below was calibrated on seeds 100-102 (`qrepro 7 --seed-base 100 --seeds 3`)
// and is judged on the mean of the held-out seeds 0-4 (the default). The calibration figures
// are in the comments next to each threshold and in examples/papers/README.md, part 7.

#include <algorithm>
#include <cmath>

#include "examples/papers/experiments.h"
#include "qtorch/train/recipe.h"

namespace qrepro {

namespace {

constexpr const char* kRouhani =
    "B. Darvish Rouhani, R. Zhao, A. More, M. Hall, A. Khodamoradi, S. Deng, et al. Microscaling Data "
    "Formats for Deep Learning. arXiv:2310.10537, 2023";
constexpr const char* kTseng =
    "A. Tseng, T. Yu, Y. Park. Training LLMs with MXFP4. AISTATS 2025 (arXiv:2502.20586)";

// The training every arm of both parts shares.
constexpr int64_t kEpochs = 2, kLimit = 20000;
constexpr int64_t kQuickEpochs = 1, kQuickLimit = 10000;
constexpr int kSeeds = 5;

// Thresholds, in points of test accuracy, fixed from the calibration run on seeds 100-102
// (`qrepro 7 --seed-base 100 --seeds 3`, 68 s). Paired gap = arm - fp32 on the same seed;
// se5 = the calibration sd / sqrt(5), the standard error of the held-out 5-seed mean.
// - MXFP8 - fp32: -0.27 / +0.40 / -0.14, mean -0.00, sd 0.36 (se5 0.16). "Matches": |mean| <=
//   0.5, about 3 se5; a real half-point loss would fail it.
// - MXFP6 - fp32: -0.37 / +0.67 / +0.32, mean +0.21, sd 0.53 (se5 0.24). "Comes close" (the
//   paper's weaker word for 6 bits): mean >= -1.0, 5 se5 below the calibration mean.
// - (b) MXFP4 nearest - fp32: -10.51 / -24.51 / -14.99, mean -16.67, sd 7.15 (se5 3.2).
//   "Loses clearly": mean <= -5.0, ten times the MXFP8 tolerance and 3.6 se5 short of the
//   calibration mean.
// - (c) share of (b)'s loss recovered by SR on E and G, (SR - nearest) / (fp32 - nearest) on
//   the means: 0.55 (SR gap -7.43; per seed 0.13 / 0.70 / 0.62). The threshold is the word
//   "most": >= 0.5. The calibration clears it by 0.05 and holds on 2 of 3 seeds, so this
//   criterion is close to a coin flip (README, part 7b).
// - (d) NVFP4 - MXFP4, both nearest: +7.69 / +19.99 / +13.80, mean +13.83, sd 6.15 (se5 2.8);
//   both SR backward: +8.13 / +4.55 / +5.69, mean +6.12, sd 1.83 (se5 0.82). "Loses less":
//   mean >= +2.0 for each, at least 4 se5 below the calibration means.
constexpr double kMxfp8Tolerance = 0.5;
constexpr double kMxfp6Tolerance = 1.0;
constexpr double kMxfp4Loss = 5.0;
constexpr double kSrRecovery = 0.5;
constexpr double kNvfp4Margin = 2.0;

ArmConfig base_arm(const RunOptions& o) {
  ArmConfig a;
  a.model = ModelKind::Mlp;
  a.training.epochs = o.quick ? kQuickEpochs : kEpochs;
  a.training.optimizer.lr = 0.05;
  a.training.optimizer.momentum = 0.9;
  a.limit_train = o.quick ? kQuickLimit : kLimit;
  return a;
}

// The library's preset, as qtrain --preset runs it (W, A, E, G in the format, float32 master
// weights and momentum), with the harness's quantized initial weights.
ArmConfig preset_arm(const RunOptions& o, const std::string& name, const std::string& preset) {
  ArmConfig a = base_arm(o);
  a.name = name;
  a.recipe = qtorch::train::preset(preset);
  a.recipe.quantize_initial_weights = true;
  return a;
}

// The preset with stochastic rounding on the backward quantizers (E and G) only.
ArmConfig sr_backward(ArmConfig a, const std::string& name) {
  a.name = name;
  for (Role r : {Role::Error, Role::Grad}) a.recipe[r].rounding = qtorch::Rounding::Stochastic;
  return a;
}

// The table of one part: every arm's accuracies, its paired gap to fp32 and the share of
// nonzero errors and gradients its quantizers flushed to zero.
void fill_table(PartResult& p, const ArmSet& set) {
  p.columns = {"arm"};
  for (const auto& c : stat_columns("test acc %")) p.columns.push_back(c);
  p.columns.insert(p.columns.end(), {"vs fp32 (paired, per seed)", "gap sd", "E flushed", "G flushed"});
  for (const auto& name : set.names()) {
    const Stats acc = stats(accs(set, name));
    const bool ref = name == "fp32";
    const Stats gap = paired(set, name, "fp32");
    std::vector<std::string> row = {name};
    for (const auto& c : stat_cells(acc, pct)) row.push_back(c);
    row.push_back(ref ? "0" : signed_pts(gap.mean) + " (" + joined(gap.v, signed_pts) + ")");
    row.push_back(ref ? "-" : fmt::format("{:.2f}", gap.sd));
    row.push_back(ref ? "-" : num(set.mean(name, [](auto& x) { return x.error_counts.flush_fraction(); }), 3));
    row.push_back(ref ? "-" : num(set.mean(name, [](auto& x) { return x.grad_counts.flush_fraction(); }), 3));
    p.rows.push_back(row);
  }
}

std::string training_text(const RunOptions& o, int seeds) {
  return fmt::format("MLP 784-256-10, SGD lr 0.05 momentum 0.9, batch 128, {} epoch(s) on the first {} images, "
                     "test on all 10 000; {}; A and E after both linear outputs; MX blocks of 32 and NVFP4 "
                     "blocks of 16 along the last axis (a weight's inputs, a sample's features)",
                     o.quick ? kQuickEpochs : kEpochs, o.quick ? kQuickLimit : kLimit, seeds_text(o, seeds, kSeeds));
}

}  // namespace

std::vector<ArmConfig> microscaling_arms_7a(const RunOptions& o) {
  ArmConfig f32 = base_arm(o);
  f32.name = "fp32";
  return {f32, preset_arm(o, "MXFP8", "mxfp8"), preset_arm(o, "MXFP6", "mxfp6")};
}

std::vector<ArmConfig> microscaling_arms_7b(const RunOptions& o) {
  ArmConfig f32 = base_arm(o);
  f32.name = "fp32";
  const ArmConfig mx = preset_arm(o, "MXFP4 nearest", "mxfp4"), nv = preset_arm(o, "NVFP4 nearest", "nvfp4");
  return {f32, mx, sr_backward(mx, "MXFP4 SR backward"), nv, sr_backward(nv, "NVFP4 SR backward")};
}

PartResult run_7a(const RunOptions& o, const Data& d) {
  PartResult p;
  p.id = "7a";
  p.title = "Rouhani et al. 2023: MXFP8 and MXFP6 training against float32";
  p.citation = kRouhani;
  p.paper_figure = abstract_figure(
      "ar5iv.labs.arxiv.org/html/2310.10537",
      "Empirical results on over two dozen benchmarks demonstrate practicality of MX data formats as a drop-in "
      "replacement for baseline FP32 for AI inference and training with low user friction. We also show the first "
      "instance of training generative language models at sub-8-bit weights, activations, and gradients with minimal "
      "accuracy loss and no modifications to the training recipe");
  p.claim = "MX formats (a block of 32 elements sharing one power-of-two scale) are a drop-in replacement "
            "for float32 in training: MXFP8 with e4m3 forward and e5m2 backward matches float32, and "
            "even 6-bit elements (MXFP6) train with minimal loss and no change to the recipe.";
  const int seeds = o.seeds ? o.seeds : (o.quick ? 1 : kSeeds);
  p.recipe = training_text(o, seeds) +
             "; MXFP8 = the mxfp8 preset: W = A = mx:e4m3:32, E = G = mx:e5m2:32, nearest-even; MXFP6 = the "
             "mxfp6 preset: W = A = mx:e2m3:32, E = G = mx:e3m2:32, nearest-even; both with float32 master "
             "weights and momentum";
  ArmSet set = run_seeded(microscaling_arms_7a(o), seeds, d, o);
  fill_table(p, set);
  // Calibration (seeds 100-102): see examples/papers/README.md, part 7a.
  const Stats g8 = paired(set, "MXFP8", "fp32"), g6 = paired(set, "MXFP6", "fp32");
  auto mx8_ok = [](double g) { return std::fabs(g) <= kMxfp8Tolerance; };
  auto mx6_ok = [](double g) { return g >= -kMxfp6Tolerance; };
  p.check(fmt::format("MXFP8 matches fp32: |mean paired gap| <= {:.1f} point", kMxfp8Tolerance),
          describe(g8, mx8_ok), mx8_ok(g8.mean));
  p.check(fmt::format("MXFP6 comes close: mean paired gap >= -{:.1f} point", kMxfp6Tolerance),
          describe(g6, mx6_ok), mx6_ok(g6.mean));
  p.notes.push_back("thresholds calibrated on seeds 100-102 (--seed-base 100 --seeds 3); judged on the mean of "
                    "the held-out seeds 0-4 (the default)");
  p.panels.push_back(test_loss_panel(set));
  // --quick (1 epoch on 10 000 images, one seed; calibrated with `qrepro all --quick --seed-base
  // 100 --seeds 3`): MXFP8 - fp32 +0.29 / +0.33 / +0.22 (sd 0.06) stays within the half point on
  // every seed; MXFP6 - fp32 +0.04 / +0.32 / -1.40 does not hold its 1 point on every seed, so it
  // is judged at full size only.
  if (o.quick) p.keep_for_quick({0});
  p.arms = set.all();
  return p;
}

PartResult run_7b(const RunOptions& o, const Data& d) {
  PartResult p;
  p.id = "7b";
  p.title = "4-bit training: MXFP4 direct cast, stochastic backward (Tseng et al. 2025), NVFP4";
  p.citation = std::string(kTseng) + "; " + kRouhani;
  p.paper_figure = abstract_figure(
      "arxiv.org/abs/2502.20586v3",
      "directly using MXFP4 instead of BF16 during training significantly degrades model quality. [...] Our key "
      "insight is to compute unbiased gradient estimates with stochastic rounding (SR) [...] directly applying SR to "
      "MXFP4 can result in high variance from block-level outliers, harming convergence. To overcome this, we use the "
      "random Hadamard tranform to theoretically bound the variance of SR");
  p.claim = "Casting every tensor to MXFP4 with round-to-nearest degrades training; stochastic rounding of "
            "the backward pass gives unbiased gradients and recovers most of the loss (Tseng et al., whose "
            "recipe also applies a random Hadamard transform and keeps the forward pass in BF16 or FP8). "
            "NVFP4's smaller blocks (16) and finer e4m3 scales lose less than MXFP4 with the same rounding.";
  const int seeds = o.seeds ? o.seeds : (o.quick ? 1 : kSeeds);
  p.recipe = training_text(o, seeds) +
             "; MXFP4 nearest = the mxfp4 preset: W = A = E = G = mx:e2m1:32 nearest-even; NVFP4 nearest = the "
             "nvfp4 preset: W = A = E = G = nvfp4:16 nearest-even; SR backward: the same with E and G rounded "
             "stochastically (no random Hadamard transform); all with float32 master weights and momentum";
  ArmSet set = run_seeded(microscaling_arms_7b(o), seeds, d, o);
  fill_table(p, set);
  const Stats a32 = stats(accs(set, "fp32"));
  const Stats mx = paired(set, "MXFP4 nearest", "fp32"), mxsr = paired(set, "MXFP4 SR backward", "fp32");
  const Stats nv = paired(set, "NVFP4 nearest", "fp32"), nvsr = paired(set, "NVFP4 SR backward", "fp32");
  // (b) Calibration (seeds 100-102): see examples/papers/README.md, part 7b.
  auto loses = [](double g) { return g <= -kMxfp4Loss; };
  p.check(fmt::format("(b) MXFP4 direct cast loses clearly: mean paired gap <= -{:.1f} points", kMxfp4Loss),
          describe(mx, loses), loses(mx.mean));
  // (c) The share of (b)'s loss that SR on E and G recovers, on the means, and per seed.
  const double rec = mx.mean < 0 ? (mxsr.mean - mx.mean) / -mx.mean : 0.0;
  std::vector<double> rec_seed;
  for (size_t i = 0; i < mx.v.size(); ++i) rec_seed.push_back(mx.v[i] < 0 ? (mxsr.v[i] - mx.v[i]) / -mx.v[i] : 0.0);
  p.check(fmt::format("(c) SR on E and G recovers most of MXFP4's loss: (SR - nearest) / (fp32 - nearest) >= {:.2f} "
                      "on the means",
                      kSrRecovery),
          fmt::format("{:.2f} (SR gap {}, nearest gap {}; per seed {}; holds on {} of {} seeds)", rec,
                      signed_pts(mxsr.mean), signed_pts(mx.mean),
                      joined(rec_seed, [](double x) { return fmt::format("{:.2f}", x); }),
                      std::count_if(rec_seed.begin(), rec_seed.end(), [](double r) { return r >= kSrRecovery; }),
                      rec_seed.size()),
          rec >= kSrRecovery);
  // (d) NVFP4 against MXFP4 with the same rounding: nearest-even everywhere, and SR backward.
  auto less_loss = [](double d) { return d >= kNvfp4Margin; };
  const Stats dnv = paired(set, "NVFP4 nearest", "MXFP4 nearest");
  p.check(fmt::format("(d) NVFP4 loses less than MXFP4, both nearest: NVFP4 - MXFP4 >= +{:.1f} points on the mean",
                      kNvfp4Margin),
          describe(dnv, less_loss), less_loss(dnv.mean));
  const Stats dnvsr = paired(set, "NVFP4 SR backward", "MXFP4 SR backward");
  p.check(fmt::format("(d) NVFP4 loses less than MXFP4, both SR backward: NVFP4 - MXFP4 >= +{:.1f} points on the "
                      "mean",
                      kNvfp4Margin),
          describe(dnvsr, less_loss), less_loss(dnvsr.mean));
  p.notes.push_back(fmt::format("fp32 mean {} (per seed {}; sd {:.2f})", pct(a32.mean), joined(a32.v, pct), a32.sd));
  p.notes.push_back(fmt::format("vs fp32: NVFP4 nearest {}; NVFP4 SR backward {}", describe(nv),
                                describe(nvsr)));
  p.notes.push_back("thresholds calibrated on seeds 100-102 (--seed-base 100 --seeds 3); judged on the mean of "
                    "the held-out seeds 0-4 (the default)");
  p.panels.push_back(test_loss_panel(set));
  p.panels.push_back(epoch_panel("E: share of nonzero errors flushed to 0", "fraction", set.first_seed(),
                                 [](const EpochLog& e) { return e.error_flush_fraction; }));
  // --quick: (b) and both (d) hold with wide margins at the small size (quick calibration, seeds
  // 100-102: (b) -13.69 / -9.38 / -6.46; (d) nearest +4.68 / +4.66 / +4.23, SR +8.32 / +15.29 /
  // +10.84); (c) does not (0.13 at seed 100), as in the full run.
  if (o.quick) p.keep_for_quick({0, 2, 3});
  p.arms = set.all();
  return p;
}

}  // namespace qrepro
