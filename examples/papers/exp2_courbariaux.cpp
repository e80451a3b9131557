// Experiment 2, Courbariaux et al. 2015: the precision of the stored weights (the
// parameter update) matters more than the precision of propagation.

#include "examples/papers/experiments.h"

namespace qrepro {

PartResult run_2(const RunOptions& o, const Data& d) {
  PartResult p;
  p.id = "2";
  p.title = "Courbariaux et al. 2015: update bits matter more than propagation bits";
  p.citation = "M. Courbariaux, Y. Bengio, J.-P. David. Training deep neural networks with low "
               "precision multiplications. ICLR 2015 workshop (arXiv:1412.7024)";
  p.claim = "With dynamic fixed point, 10 bits suffice for propagations (activations, errors) but "
            "the parameter updates need about 12 bits; with fewer update bits accuracy drops.";
  const int64_t epochs = o.quick ? 1 : 3;
  const int64_t limit = o.quick ? 20000 : -1;
  const int seeds = o.seeds ? o.seeds : 3;
  p.recipe = fmt::format("MLP 784-256-10, SGD lr 0.05 momentum 0.9, batch 128, {} epoch(s){}; nearest "
                         "everywhere; A = E = G = M = bfp<10,-1> (one shared exponent per tensor); "
                         "W = bfp<u,-1> updated in place for u in 8, 10, 12, 16; {} seeds, criteria on "
                         "the means",
                         epochs, limit > 0 ? fmt::format(", first {} images", limit) : "", seeds);
  ArmConfig base;
  base.training.epochs = epochs;
  base.training.optimizer.lr = 0.05;
  base.training.optimizer.momentum = 0.9;
  base.limit_train = limit;
  std::vector<ArmConfig> arms;
  ArmConfig f32 = base;
  f32.name = "fp32";
  arms.push_back(f32);
  const std::vector<int> widths = {8, 10, 12, 16};
  for (int u : widths) {
    ArmConfig a = base;
    a.name = fmt::format("W bfp<{},-1>", u);
    set_roles(a.recipe, {Role::Activation, Role::Error, Role::Grad, Role::Momentum}, role(bfp(10, -1), qtorch::Rounding::Nearest));
    set_roles(a.recipe, {Role::Weight}, role(bfp(u, -1), qtorch::Rounding::Nearest));
    arms.push_back(a);
  }
  // Three seeds: neighbouring widths differ by less than the seed-to-seed spread of one run.
  ArmSet set = run_seeded(arms, seeds, d, o);
  const double ref = set.acc("fp32");
  p.columns = {"arm", "update bits", "mean final acc %", "vs fp32", "update frac (last epoch)", "E flushed",
               "G flushed"};
  for (const auto& name : set.names()) {
    const auto& r = set.runs(name).front();
    p.rows.push_back({name, r.config.recipe[Role::Weight].quantized() ? to_string(r.config.recipe[Role::Weight]) : "fp32", pct(set.acc(name)),
                      signed_pts(set.acc(name) - ref),
                      sci(set.mean(name, [](auto& x) { return x.last().update_fraction; })),
                      num(set.mean(name, [](auto& x) { return x.error_counts.flush_fraction(); }), 3),
                      num(set.mean(name, [](auto& x) { return x.grad_counts.flush_fraction(); }), 3)});
  }
  std::string seq;
  bool monotone = true;
  for (size_t i = 0; i < widths.size(); ++i) {
    double a = set.acc(fmt::format("W bfp<{},-1>", widths[i]));
    seq += (i ? " / " : "") + pct(a);
    if (i > 0) monotone = monotone && a >= set.acc(fmt::format("W bfp<{},-1>", widths[i - 1])) - 0.3;
  }
  p.check("accuracy non-decreasing in the update width u = 8, 10, 12, 16 (0.3 tolerance)", seq, monotone);
  for (int u : {12, 16}) {
    double a = set.acc(fmt::format("W bfp<{},-1>", u));
    p.check(fmt::format("u = {} within 1 point of fp32", u),
            fmt::format("{} vs {} ({})", pct(a), pct(ref), signed_pts(a - ref)), a >= ref - 1.0);
  }
  const double a8 = set.acc("W bfp<8,-1>");
  p.check("u = 8 at least 2.5 points below fp32", fmt::format("{} vs {} ({})", pct(a8), pct(ref), signed_pts(a8 - ref)),
          a8 <= ref - 2.5);
  p.notes.push_back("propagation stays at 10 bits in every arm; only the stored-weight width changes");
  p.panels.push_back(accuracy_panel(set.first_seed()));
  p.panels.push_back(epoch_panel("share of stored weights changed per step", "fraction (log)", set.first_seed(),
                                 [](const EpochLog& e) { return std::max(e.update_fraction, 1e-7); }, true, true));
  p.arms = set.all();
  return p;
}

}  // namespace qrepro
