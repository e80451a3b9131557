// Experiment 6, Kalamkar et al. 2019: bfloat16 training matches float32 when the update goes
// to a float32 master copy; pure bf16 weights lose small updates unless rounded stochastically.

#include "examples/papers/experiments.h"

namespace qrepro {

PartResult run_6(const RunOptions& o, const Data& d) {
  PartResult p;
  p.id = "6";
  p.title = "Kalamkar et al. 2019: bfloat16 with and without a float32 master copy";
  p.citation = "D. Kalamkar, D. Mudigere, N. Mellempudi, D. Das, K. Banerjee, S. Avancha, et al. A Study "
               "of BFLOAT16 for Deep Learning Training. arXiv:1905.12322, 2019";
  p.claim = "bf16 (8 exponent bits, 7 mantissa bits) for weights, activations, errors and gradients "
            "trains as well as float32 with a float32 master copy of the weights; the 8-bit "
            "significand alone cannot hold small updates.";
  const int64_t epochs = o.quick ? 1 : 3, limit = o.quick ? 20000 : -1;
  p.recipe = fmt::format("MLP 784-256-10, SGD lr 0.01 no momentum, batch 128, {} epoch(s){}; W = G = A = E = "
                         "bf16 (e8m7 IEEE) nearest; master: the update goes to a float32 copy; pure: W "
                         "updated in place, rounded to nearest or stochastically",
                         epochs, limit > 0 ? fmt::format(", first {} images", limit) : "");
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
  ArmSet set = run_seeded({f32, master, pure, pure_sr}, o.seeds ? o.seeds : 1, d, o);
  const double ref = set.acc("fp32");
  p.columns = {"arm", "final acc %", "vs fp32", "update frac (last epoch)", "E flushed", "G flushed"};
  for (const auto& name : set.names())
    p.rows.push_back({name, pct(set.acc(name)), signed_pts(set.acc(name) - ref),
                      sci(set.mean(name, [](auto& x) { return x.last().update_fraction; })),
                      sci(set.mean(name, [](auto& x) { return x.error_counts.flush_fraction(); })),
                      sci(set.mean(name, [](auto& x) { return x.grad_counts.flush_fraction(); }))});
  const double am = set.acc(master.name), ap = set.acc(pure.name), as = set.acc(pure_sr.name);
  p.check("bf16 with a float32 master copy within 1 point of fp32 (>= fp32 - 1)",
          fmt::format("{} vs {} ({})", pct(am), pct(ref), signed_pts(am - ref)), am >= ref - 1.0);
  p.check("pure bf16 updated in place with nearest at least 5 points below fp32",
          fmt::format("{} vs {} ({})", pct(ap), pct(ref), signed_pts(ap - ref)), ap <= ref - 5.0);
  p.check("pure bf16 with stochastic rounding of the update within 1 point of fp32 (>= fp32 - 1)",
          fmt::format("{} vs {} ({})", pct(as), pct(ref), signed_pts(as - ref)), as >= ref - 1.0);
  p.notes.push_back("with lr 0.01, lr*|grad| is below half a bf16 ulp (2^-8 relative) for most weights, "
                    "so nearest rounds the update away; see the update fraction");
  p.panels.push_back(accuracy_panel(set.first_seed()));
  p.panels.push_back(epoch_panel("share of stored weights changed per step", "fraction (log)", set.first_seed(),
                                 [](const EpochLog& e) { return std::max(e.update_fraction, 1e-7); }, true, true));
  p.arms = set.all();
  return p;
}

}  // namespace qrepro
