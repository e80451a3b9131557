// Experiment 4, Micikevicius et al. 2018: small errors underflow a narrow floating point
// format; scaling the loss shifts them into range (static or dynamic scale).
#include <cmath>

#include "examples/papers/experiments.h"

namespace qrepro {

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
  const int64_t epochs = o.quick ? 1 : 3;
  const int64_t limit = o.quick ? 20000 : -1;
  p.recipe = fmt::format("MLP 784-256-10, SGD lr 0.05 momentum 0.9, batch 128, {} epoch(s){}; float32 "
                         "weights (master), E = e4m3 IEEE-like ({}: smallest subnormal 2^{}, max {}, "
                         "overflow to inf) nearest after both linear outputs; no scaling, static 4096, "
                         "dynamic (init 2^16, x0.5 on overflow or saturation, x2 after 100 clean steps)",
                         epochs, limit > 0 ? fmt::format(", first {} images", limit) : "",
                         qtorch::to_string(e4m3), emin_sub, e4m3.max_value());
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
  dyn.recipe.loss_scaling = {LossScaling::Kind::Dynamic, 65536, 100};
  ArmSet set = run_seeded({f32, none, st, dyn}, o.seeds ? o.seeds : 1, d, o);
  const double ref = set.acc("fp32");
  p.columns = {"arm", "final acc %", "vs fp32", "E flushed (nonzero->0)", "E saturated", "errors < 2^" +
               std::to_string(emin_sub - 1) + " (before E)", "final scale", "skipped steps"};
  for (const auto& name : set.names()) {
    const auto& r = set.runs(name).front();
    p.rows.push_back({name, pct(set.acc(name)), signed_pts(set.acc(name) - ref),
                      name == "fp32" ? "-" : num(set.mean(name, [](auto& x) { return x.error_counts.flush_fraction(); }), 3),
                      name == "fp32" ? "-" : sci(set.mean(name, [](auto& x) { return x.error_counts.saturation_fraction(); })),
                      num(r.error_histogram.fraction_below(emin_sub - 1), 3),
                      r.scale_trace.empty() ? "-" : fmt::format("{:g}", r.scale_trace.back()),
                      std::to_string(r.skipped_steps)});
  }
  const double flush = set.mean(none.name, [](auto& x) { return x.error_counts.flush_fraction(); });
  p.check("no scaling: at least 50% of nonzero errors flush to zero", num(flush, 3), flush >= 0.5);
  const double an = set.acc(none.name);
  p.check("no scaling: accuracy at least 5 points below fp32",
          fmt::format("{} vs {} ({})", pct(an), pct(ref), signed_pts(an - ref)), an <= ref - 5.0);
  for (const auto* name : {"e4m3 static 4096", "e4m3 dynamic"}) {
    const double a = set.acc(name);
    p.check(std::string(name) + " within 1 point of fp32 (>= fp32 - 1)",
            fmt::format("{} vs {} ({})", pct(a), pct(ref), signed_pts(a - ref)), a >= ref - 1.0);
  }
  bool settled = true, skipped = true;
  double lo = INFINITY, hi = 0;
  for (const auto& r : set.runs(dyn.name)) {
    const size_t n = r.scale_trace.size(), per_epoch = size_t(r.steps / std::max<int64_t>(r.config.training.epochs, 1));
    for (size_t i = n - std::min(n, per_epoch); i < n; ++i) {
      lo = std::min(lo, r.scale_trace[i]);
      hi = std::max(hi, r.scale_trace[i]);
    }
    skipped = skipped && r.skipped_steps >= 1;
  }
  settled = lo >= 1024.0 && hi <= 65536.0;
  p.check("dynamic: the scale settles in [2^10, 2^16] over the last epoch",
          fmt::format("range [{:g}, {:g}]", lo, hi), settled);
  p.check("dynamic: at least one skipped step", std::to_string(set.runs(dyn.name).front().skipped_steps), skipped);
  p.notes.push_back("E sees the error of each linear output; the unscaled output-layer error is "
                    "(softmax - onehot)/128 and the hidden-layer errors are smaller still");

  p.panels.push_back(accuracy_panel(set.first_seed()));
  Panel hist;
  hist.title = "log2|error| entering E (share per binade; Fig. 3 of the paper)";
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
  scale.title = "dynamic loss scale";
  scale.xlabel = "step";
  scale.ylabel = "scale";
  scale.logy = true;
  scale.steps = true;
  {
    const auto& r = set.runs(dyn.name).front();
    std::vector<std::pair<double, double>> pts;
    for (size_t i = 0; i < r.scale_trace.size(); ++i) pts.emplace_back(double(i + 1), r.scale_trace[i]);
    scale.lines.push_back({"dynamic scale", pts});
  }
  p.panels.push_back(scale);
  p.panels.push_back(epoch_panel("E: share of nonzero errors flushed to 0", "fraction", set.first_seed(),
                                 [](const EpochLog& e) { return e.error_flush_fraction; }));
  p.arms = set.all();
  return p;
}

}  // namespace qrepro
