// Experiment 1, Gupta et al. 2015: with 16-bit fixed point <16,8>, round-to-nearest loses
// every small update (and every small error), stochastic rounding keeps them in expectation.

#include "examples/papers/experiments.h"

namespace qrepro {

namespace {

constexpr const char* kGupta =
    "S. Gupta, A. Agrawal, K. Gopalakrishnan, P. Narayanan. Deep Learning with Limited "
    "Numerical Precision. ICML 2015 (arXiv:1502.02551)";

}  // namespace

PartResult run_1a(const RunOptions& o, const Data& d) {
  PartResult p;
  p.id = "1a";
  p.title = "Gupta et al. 2015: fix<16,8> weights updated in place, nearest vs stochastic";
  p.citation = kGupta;
  p.claim = "With round-to-nearest, updates smaller than half a quantum (2^-9 for <16,8>) are lost "
            "and training stalls; stochastic rounding keeps them in expectation and matches float32.";
  const int64_t epochs = o.quick ? 1 : 3;
  const int64_t limit = o.quick ? 20000 : -1;
  p.recipe = fmt::format("MLP 784-256-10, SGD lr 0.01 no momentum, batch 128, {} epoch(s){}; "
                         "only W = fix<16,8> (updated in place, initial weights quantized)",
                         epochs, limit > 0 ? fmt::format(" on the first {} images", limit) : "");
  ArmConfig base;
  base.training.epochs = epochs;
  base.training.optimizer.lr = 0.01;
  base.limit_train = limit;
  ArmConfig f32 = base, rn = base, sr = base;
  f32.name = "fp32";
  rn.name = "fix16 nearest";
  set_roles(rn.recipe, {Role::Weight}, role(fix(16, 8), qtorch::Rounding::Nearest));
  sr.name = "fix16 stochastic";
  set_roles(sr.recipe, {Role::Weight}, role(fix(16, 8), qtorch::Rounding::Stochastic));
  ArmSet set = run_seeded({f32, rn, sr}, o.seeds ? o.seeds : 1, d, o);

  p.columns = {"arm", "W", "init acc %", "final acc %", "vs fp32", "update frac (step 1)",
               "steps changing W after step 1", "W == quantized init"};
  const double a32 = set.acc("fp32");
  for (const auto& name : set.names()) {
    const auto& r = set.runs(name).front();
    p.rows.push_back({name, to_string(r.config.recipe[Role::Weight]), pct(set.mean(name, [](auto& x) { return x.epochs[0].test_accuracy; })),
                      pct(set.acc(name)), signed_pts(set.acc(name) - a32),
                      sci(set.mean(name, [](auto& x) { return x.first_step_update_fraction; })),
                      fmt::format("{} of {}", r.steps_changing_after_first, r.steps - 1),
                      r.weights_equal_init ? "yes" : "no"});
  }
  bool frozen = true, identical = true, same_acc = true;
  int64_t changing = 0;
  for (const auto& r : set.runs("fix16 nearest")) {
    changing += r.steps_changing_after_first;
    frozen = frozen && r.steps_changing_after_first == 0;
    identical = identical && r.weights_equal_init;
    same_acc = same_acc && r.test_accuracy == r.epochs[0].test_accuracy;
  }
  p.check("nearest: no stored weight changes in any step after the first",
          fmt::format("{} steps changed a weight", changing), frozen);
  p.check("nearest: final weights bit-identical to the quantized init, accuracy equal to the init's",
          fmt::format("identical={}, acc {} vs init {}", identical ? "yes" : "no", pct(set.acc("fix16 nearest")),
                      pct(set.mean("fix16 nearest", [](auto& x) { return x.epochs[0].test_accuracy; }))),
          identical && same_acc);
  const double dsr = set.acc("fix16 stochastic") - a32;
  p.check("stochastic: final test accuracy within 1.5 points of fp32 (>= fp32 - 1.5)",
          fmt::format("{} vs {} ({})", pct(set.acc("fix16 stochastic")), pct(a32), signed_pts(dsr)),
          dsr >= -1.5);
  p.notes.push_back("half a quantum of <16,8> is 2^-9 = 0.00195; lr*|grad| = 0.01*|grad| stays below it "
                    "unless |grad| > 0.195, so nearest rounds every update back to the old weight");
  p.panels.push_back(accuracy_panel(set.first_seed()));
  p.panels.push_back(epoch_panel("share of stored weights changed per step (0 drawn at 1e-7)", "fraction (log)",
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
  p.claim = "Training entirely in 16-bit fixed point <16,8> works with stochastic rounding (close to "
            "float32) and fails with round-to-nearest.";
  const int64_t epochs = o.quick ? 1 : 3;
  const int64_t lenet_epochs = o.quick ? 1 : 5;  // LeNet learns more slowly at lr 0.1 without momentum
  const int64_t limit = o.quick ? 20000 : -1;
  p.recipe = fmt::format("SGD lr 0.1 no momentum, batch 128; W = G = A = E = fix<16,8> (A/E after every "
                         "linear/conv output); MLP 784-256-10 for {} epoch(s), LeNet-5 for {}{}",
                         epochs, lenet_epochs, limit > 0 ? fmt::format(", first {} images", limit) : "");
  std::vector<ArmConfig> arms;
  for (ModelKind m : {ModelKind::Mlp, ModelKind::LeNet}) {
    const std::string tag = m == ModelKind::Mlp ? "mlp " : "lenet ";
    ArmConfig base;
    base.model = m;
    base.training.epochs = m == ModelKind::Mlp ? epochs : lenet_epochs;
    base.training.optimizer.lr = 0.1;
    base.limit_train = limit;
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
  }
  ArmSet set = run_seeded(arms, o.seeds ? o.seeds : 1, d, o);
  p.columns = {"arm", "final acc %", "vs fp32", "update frac (last epoch)", "E flushed", "G flushed", "W saturated"};
  for (const auto& name : set.names()) {
    const std::string tag = name.substr(0, name.find(' ') + 1);
    const double ref = set.acc(tag + "fp32");
    p.rows.push_back({name, pct(set.acc(name)), signed_pts(set.acc(name) - ref),
                      sci(set.mean(name, [](auto& x) { return x.last().update_fraction; })),
                      num(set.mean(name, [](auto& x) { return x.error_counts.flush_fraction(); }), 3),
                      num(set.mean(name, [](auto& x) { return x.grad_counts.flush_fraction(); }), 3),
                      sci(set.mean(name, [](auto& x) { return x.weight_counts.saturation_fraction(); }))});
  }
  for (std::string tag : {"mlp ", "lenet "}) {
    const double ref = set.acc(tag + "fp32");
    const double rn = set.acc(tag + "fix16 nearest"), sr = set.acc(tag + "fix16 stochastic");
    p.check(tag + "nearest collapses to chance: test accuracy <= 15%", pct(rn) + "%", rn <= 15.0);
    p.check(tag + "stochastic within 3 points of fp32 (>= fp32 - 3)",
            fmt::format("{} vs {} ({})", pct(sr), pct(ref), signed_pts(sr - ref)), sr >= ref - 3.0);
  }
  p.notes.push_back("nearest rounds errors and gradients below 2^-9 to zero and every update below "
                    "2^-9 back to the old weight; see the flush column");
  p.panels.push_back(accuracy_panel(set.first_seed()));
  p.panels.push_back(epoch_panel("E: share of nonzero errors flushed to 0", "fraction", set.first_seed(),
                                 [](const EpochLog& e) { return e.error_flush_fraction; }));
  p.arms = set.all();
  return p;
}

}  // namespace qrepro
