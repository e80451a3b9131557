// Experiment 4, Micikevicius et al. 2018: small errors underflow a narrow floating point
// format; scaling the loss shifts them into range (static or dynamic scale).
//
// Thresholds: calibrated on seeds 100-102 (`qrepro 4 --seed-base 100 --seeds 3`, and with
// --quick), judged on the mean of the held-out seeds 0-4 (the default). Figures in the README.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "examples/papers/experiments.h"

namespace qrepro {

namespace {

constexpr int64_t kEpochs = 3, kLimit = 30000, kQuickLimit = 20000;
// The dynamic scaler starts at 2^12: the output-layer error is at most 1/128 per element
// (softmax - onehot over a batch of 128), so 2^12 puts it at <= 32, below e4m3's 240, and the
// first step need not overflow. It doubles after 100 clean steps and halves on overflow.
constexpr double kDynamicInit = 4096;
// Calibrated on seeds 100-102 (`qrepro 4 --seed-base 100 --seeds 3`, 43 s; se5 = sd / sqrt(5)):
// - share of nonzero errors flushed: no scaling 0.831 (0.829 / 0.827 / 0.836): >= 0.5; static
//   0.073, dynamic 0.055 (every seed within 0.002): <= 0.2.
// - no scaling - fp32: -7.62 (per seed -4.70 / -9.93 / -8.24, sd 2.67, se5 1.19): loses >= 3.0,
//   about 4 se5 short of the calibration mean (this arm trains erratically).
// - static - fp32 -0.19 (sd 0.47), dynamic - fp32 +0.44 (sd 0.22): recovers within 1 point.
// - dynamic: no back-off at step 1, 5 skipped steps on every seed, final scale 8192.
constexpr double kFlushNone = 0.5;
constexpr double kFlushScaled = 0.2;
constexpr double kUnscaledLoss = 3.0;
constexpr double kScaledTolerance = 1.0;

}  // namespace

PartResult run_4(const RunOptions& o, const Data& d) {
  PartResult p;
  p.id = "4";
  p.title = "Micikevicius et al. 2018: error underflow in e4m3 and loss scaling";
  p.citation = "P. Micikevicius, S. Narang, J. Alben, G. Diamos, E. Elsen, D. Garcia, B. Ginsburg, "
               "M. Houston, O. Kuchaiev, G. Venkatesh, H. Wu. Mixed Precision Training. ICLR 2018 "
               "(arXiv:1710.03740)";
  p.claim = "Many activation gradients are smaller than the narrow format's smallest subnormal and "
            "flush to zero; multiplying the loss by a constant (or a dynamically adjusted scale that "
            "backs off on overflow) moves them into range and recovers float32 accuracy.";
  const qtorch::FloatingPoint e4m3 = ieee(4, 3, /*saturate=*/false);
  const int emin_sub = e4m3.emin() - e4m3.man;  // log2 of the smallest subnormal
  const int64_t epochs = o.quick ? 1 : kEpochs;
  const int64_t limit = o.quick ? kQuickLimit : kLimit;
  const int seeds = part_seeds(o);
  p.paper_figure = abstract_figure(
      "arxiv-vanity.com/papers/1710.03740",
      "We introduce methodology for training deep neural networks using half-precision floating point numbers, "
      "without losing model accuracy or having to modify hyper-parameters. [...] Secondly, we propose loss-scaling "
      "to preserve gradient values with small magnitudes");
  p.recipe = fmt::format("MLP 784-256-10, SGD lr 0.05 momentum 0.9, batch 128, {} epoch(s) on the first {} images; "
                         "float32 weights (master), E = e4m3 IEEE-like ({}: smallest subnormal 2^{}, max {}, "
                         "overflow to inf) nearest after both linear outputs; no scaling, static 4096, dynamic "
                         "(init 2^12, where step 1 need not overflow; x0.5 on overflow or saturation, x2 after 100 "
                         "clean steps); {}",
                         epochs, limit, qtorch::to_string(e4m3), emin_sub, e4m3.max_value(),
                         seeds_text(o, seeds, kDefaultSeeds));
  ArmConfig base;
  base.training.epochs = epochs;
  base.training.optimizer.lr = 0.05;
  base.training.optimizer.momentum = 0.9;
  base.limit_train = limit;
  base.error_histogram = true;
  ArmConfig f32 = base, none = base, st = base, dyn = base;
  f32.name = "fp32";
  none.name = "e4m3 no scaling";
  set_roles(none.recipe, {Role::Error}, role(e4m3, qtorch::Rounding::Nearest));
  st = none;
  st.name = "e4m3 static 4096";
  st.recipe.loss_scaling = {LossScaling::Kind::Static, 4096, 100};
  dyn = none;
  dyn.name = "e4m3 dynamic";
  dyn.recipe.loss_scaling = {LossScaling::Kind::Dynamic, kDynamicInit, 100};
  ArmSet set = run_seeded({f32, none, st, dyn}, seeds, d, o);
  accuracy_table(p, set, "fp32");
  auto flush_of = [](const ArmResult& r) { return r.error_counts.flush_fraction(); };
  add_column(p, set, "E flushed (mean)", [&](const std::string& n) { return n == "fp32" ? "-" : num(set.mean(n, flush_of), 3); });
  add_column(p, set, "errors < 2^" + std::to_string(emin_sub - 1) + " before E (mean)", [&](const std::string& n) {
    return num(set.mean(n, [&](const ArmResult& r) { return r.error_histogram.fraction_below(emin_sub - 1); }), 3);
  });
  add_column(p, set, "final scale per seed", [&](const std::string& n) {
    std::vector<double> v;
    for (const auto& r : set.runs(n))
      if (!r.scale_trace.empty()) v.push_back(r.scale_trace.back());
    return v.empty() ? std::string("-") : joined(v, [](double x) { return fmt::format("{:g}", x); });
  });
  add_column(p, set, "skipped steps per seed", [&](const std::string& n) {
    return joined(per_seed(set, n, [](const ArmResult& r) { return double(r.skipped_steps); }),
                  [](double x) { return fmt::format("{:g}", x); });
  });

  const Stats fl = stats(per_seed(set, none.name, flush_of));
  p.check(fmt::format("no scaling: >= {:.2f} of the nonzero errors flush to zero (mean)", kFlushNone),
          fmt::format("{:.3f} (per seed {})", fl.mean, joined(fl.v, [](double x) { return num(x, 3); })),
          fl.mean >= kFlushNone);
  for (const auto* name : {"e4m3 static 4096", "e4m3 dynamic"}) {
    const Stats f = stats(per_seed(set, name, flush_of));
    p.check(fmt::format("{}: <= {:.2f} of the nonzero errors flush (mean)", name, kFlushScaled),
            fmt::format("{:.3f} (per seed {})", f.mean, joined(f.v, [](double x) { return num(x, 3); })),
            f.mean <= kFlushScaled);
  }
  // The dynamic scaler: step 1 runs (the start need not overflow) on every seed.
  std::vector<double> first_skips, skips;
  for (const auto& r : set.runs(dyn.name)) {
    first_skips.push_back(r.scale_trace.size() > 0 && r.scale_trace[0] < kDynamicInit ? 1.0 : 0.0);
    skips.push_back(double(r.skipped_steps));
  }
  const double first_total = std::accumulate(first_skips.begin(), first_skips.end(), 0.0);
  p.check("dynamic: step 1 does not overflow at the initial scale 2^12 on any seed (the scale after step 1 is not "
          "below 2^12)",
          fmt::format("{:g} of {} seeds backed off at step 1", first_total, first_skips.size()), first_total == 0.0);
  if (!o.quick) {
    const Stats gn = paired(set, none.name, "fp32");
    auto loses = [](double g) { return g <= -kUnscaledLoss; };
    p.check(fmt::format("no scaling loses >= {:.1f} points (mean paired gap)", kUnscaledLoss), describe(gn, loses),
            loses(gn.mean));
    for (const auto* name : {"e4m3 static 4096", "e4m3 dynamic"}) {
      const Stats g = paired(set, name, "fp32");
      auto ok = [](double x) { return x >= -kScaledTolerance; };
      p.check(fmt::format("{} recovers fp32: mean paired gap >= -{:.1f} point", name, kScaledTolerance), describe(g, ok),
              ok(g.mean));
    }
    const double min_skips = *std::min_element(skips.begin(), skips.end());
    p.check("dynamic: the scale grows from 2^12 until e4m3 overflows, then backs off (>= 1 skipped step on every "
            "seed; not by construction, since step 1 runs)",
            fmt::format("skipped steps per seed {}", joined(skips, [](double x) { return fmt::format("{:g}", x); })),
            min_skips >= 1.0);
  }
  p.notes.push_back("E sees the error of each linear output; the unscaled output-layer error is "
                    "(softmax - onehot)/128 and the hidden-layer errors are smaller still");

  p.panels.push_back(test_loss_panel(set));
  Panel hist;
  hist.title = "log2|error| entering E (share per binade, seed 0)";
  hist.xlabel = "floor(log2 |error|)";
  hist.ylabel = "share of nonzero errors";
  hist.steps = true;
  for (const auto* name : {"e4m3 no scaling", "e4m3 static 4096"}) {
    const Log2Histogram& h = set.runs(name).front().error_histogram;
    const double total = double(std::max<int64_t>(h.total_nonzero(), 1));
    std::vector<std::pair<double, double>> pts;
    for (const auto& [e, c] : h.bins)
      if (e >= -40) pts.emplace_back(double(e), double(c) / total);
    hist.lines.push_back({name, pts});
  }
  hist.markers = {{double(emin_sub), fmt::format("smallest subnormal 2^{{{}}}", emin_sub)},
                  {std::log2(e4m3.max_value()), "max 240"}};
  p.panels.push_back(hist);
  Panel scale;
  scale.title = "dynamic loss scale per step (every seed)";
  scale.xlabel = "step";
  scale.ylabel = "scale";
  scale.logy = true;
  scale.steps = true;
  for (const auto& r : set.runs(dyn.name)) {
    std::vector<std::pair<double, double>> pts;
    for (size_t i = 0; i < r.scale_trace.size(); ++i) pts.emplace_back(double(i + 1), r.scale_trace[i]);
    scale.lines.push_back({fmt::format("seed {}", r.config.training.seed), pts});
  }
  p.panels.push_back(scale);
  p.panels.push_back(band_panel("E: share of nonzero errors flushed to 0 (mean, band: +- sd)", "fraction",
                                set.grouped({none.name, st.name, dyn.name}),
                                [](const EpochLog& e) { return e.error_flush_fraction; }, true));
  p.arms = set.all();
  return p;
}

}  // namespace qrepro
