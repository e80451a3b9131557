// The part registry, the seed-grouped arm sets, statistics over seeds and the format shorthands.
#include "examples/papers/experiments.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace qrepro {

const std::vector<PartInfo>& all_parts() {
  static const std::vector<PartInfo> parts = {
      {"1a", "gupta", "Gupta 2015: fix<16,8> weights, nearest stalls, stochastic learns", run_1a},
      {"1b", "gupta", "Gupta 2015: fix<16,8> everywhere, nearest collapses (MLP and LeNet)", run_1b},
      {"2", "courbariaux", "Courbariaux 2015: update bits matter more than propagation bits", run_2},
      {"3a", "swalp", "SWALP 2019: averaging fix<8,6> iterates of softmax regression", run_3a},
      {"3b", "swalp", "SWALP 2019: bfp<8,0> MLP with the SWALP schedule and averaging", run_3b},
      {"4", "loss-scaling", "Micikevicius 2018: e4m3 errors underflow, loss scaling fixes it", run_4},
      {"5a", "fp8", "Wang 2018: FP8 training needs the 16-bit weight copy", run_5a},
      {"5b", "fp8", "Sun 2019: HFP8 (e4m3 bias 11 forward) vs e5m2 everywhere", run_5b},
      {"6", "bf16", "Kalamkar 2019: bf16 needs a master copy or stochastic rounding", run_6},
      {"7a", "microscaling", "Rouhani 2023: MXFP8 matches fp32, MXFP6 comes close", run_7a},
      {"7b", "microscaling", "Tseng 2025: MXFP4 direct cast loses, SR backward recovers; NVFP4 loses less", run_7b},
      {"8a", "accumulation", "Wang 2018: fp16 accumulators swamp long dot products; chunks of 64 and Kahan do not", run_8a},
      {"8b", "accumulation", "Wang 2018: e5m2 products, fp16 vs narrow accumulators, chunks of 64, Kahan (training)", run_8b},
      {"8c", "accumulation", "Sakr 2019: the accumulator width training needs grows with the accumulation length", run_8c},
  };
  return parts;
}

std::vector<const PartInfo*> select_parts(const std::string& name) {
  std::vector<const PartInfo*> out;
  for (const auto& p : all_parts()) {
    const bool paper_number = !p.id.empty() && name == p.id.substr(0, 1);
    if (name == "all" || name == p.id || name == p.paper || paper_number) out.push_back(&p);
  }
  return out;
}

void ArmSet::add(ArmResult r) {
  const std::string name = r.config.name;
  if (!by_name_.count(name)) order_.push_back(name);
  by_name_[name].push_back(std::move(r));
}

const std::vector<ArmResult>& ArmSet::runs(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) throw std::logic_error("qrepro: no arm named " + name);
  return it->second;
}

double ArmSet::mean(const std::string& name, const std::function<double(const ArmResult&)>& f) const {
  double sum = 0;
  for (const ArmResult& r : runs(name)) sum += f(r);
  return runs(name).empty() ? 0.0 : sum / double(runs(name).size());
}

double ArmSet::acc(const std::string& name) const {
  return mean(name, [](const ArmResult& r) { return r.test_accuracy; });
}

std::vector<const ArmResult*> ArmSet::first_seed() const {
  std::vector<const ArmResult*> out;
  for (const auto& n : order_) out.push_back(&by_name_.at(n).front());
  return out;
}

std::vector<ArmResult> ArmSet::all() const {
  std::vector<ArmResult> out;
  for (const auto& n : order_)
    for (const auto& r : by_name_.at(n)) out.push_back(r);
  return out;
}

std::vector<std::pair<std::string, std::vector<const ArmResult*>>> ArmSet::grouped(const std::vector<std::string>& names) const {
  std::vector<std::pair<std::string, std::vector<const ArmResult*>>> out;
  for (const auto& n : names.empty() ? order_ : names) {
    std::vector<const ArmResult*> runs;
    for (const auto& r : this->runs(n)) runs.push_back(&r);
    out.emplace_back(n, runs);
  }
  return out;
}

Panel test_loss_panel(const ArmSet& set, const std::vector<std::string>& names) {
  return band_panel("test loss per epoch (mean over seeds, band: +- sd)", "cross-entropy", set.grouped(names),
                    [](const EpochLog& e) { return e.test_loss; });
}

Panel test_accuracy_panel(const ArmSet& set, const std::vector<std::string>& names) {
  return band_panel("test accuracy per epoch (mean over seeds, band: +- sd)", std::string(1, '%'), set.grouped(names),
                    [](const EpochLog& e) { return e.test_accuracy; });
}

ArmSet run_seeded(const std::vector<ArmConfig>& arms, int seeds, const Data& data, const RunOptions& options) {
  ArmSet set;
  for (int s = 0; s < std::max(seeds, 1); ++s) {
    std::vector<ArmConfig> seeded = arms;
    for (auto& a : seeded) a.training.seed += options.seed_base + static_cast<uint64_t>(s);
    for (auto& r : run_arms(seeded, data, options)) set.add(std::move(r));
  }
  return set;
}

int part_seeds(const RunOptions& o, int full, int quick) { return o.seeds ? o.seeds : (o.quick ? quick : full); }

Stats stats(std::vector<double> v) {
  Stats s;
  s.v = std::move(v);
  if (s.v.empty()) return s;
  for (double x : s.v) s.mean += x;
  s.mean /= double(s.v.size());
  for (double x : s.v) s.sd += (x - s.mean) * (x - s.mean);
  s.sd = s.v.size() > 1 ? std::sqrt(s.sd / double(s.v.size() - 1)) : 0.0;
  s.lo = *std::min_element(s.v.begin(), s.v.end());
  s.hi = *std::max_element(s.v.begin(), s.v.end());
  return s;
}

std::vector<double> accs(const ArmSet& set, const std::string& name) {
  std::vector<double> v;
  for (const auto& r : set.runs(name)) v.push_back(r.test_accuracy);
  return v;
}

std::vector<double> per_seed(const ArmSet& set, const std::string& name, const std::function<double(const ArmResult&)>& f) {
  std::vector<double> v;
  for (const auto& r : set.runs(name)) v.push_back(f(r));
  return v;
}

Stats paired(const ArmSet& set, const std::string& a, const std::string& b) {
  return paired(set, a, b, [](const ArmResult& r) { return r.test_accuracy; });
}

Stats paired(const ArmSet& set, const std::string& a, const std::string& b, const std::function<double(const ArmResult&)>& f) {
  const auto x = per_seed(set, a, f), y = per_seed(set, b, f);
  std::vector<double> d;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) d.push_back(x[i] - y[i]);
  return stats(d);
}

double t_statistic(const Stats& s) {
  if (s.v.size() < 2) return 0.0;
  if (s.sd == 0.0) return s.mean == 0.0 ? 0.0 : std::copysign(INFINITY, s.mean);
  return s.mean / (s.sd / std::sqrt(double(s.v.size())));
}

double t_critical95(size_t n) {
  // Student's t, two-sided 95%, for 1..29 degrees of freedom.
  static const double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                 2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                 2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045};
  if (n < 2 || n > 30) throw std::invalid_argument(fmt::format("t_critical95: expected 2 to 30 values, got {}", n));
  return table[n - 2];
}

std::vector<std::string> stat_columns(const std::string& what) {
  return {what + " per seed", "mean", "sd", "min", "max"};
}

std::vector<std::string> stat_cells(const Stats& s, const std::function<std::string(double)>& f) {
  return {joined(s.v, f), f(s.mean), f(s.sd), f(s.lo), f(s.hi)};
}

void accuracy_table(PartResult& p, const ArmSet& set, const std::string& reference) {
  p.columns = {"arm"};
  for (const auto& c : stat_columns("test acc %")) p.columns.push_back(c);
  if (!reference.empty()) p.columns.push_back("vs " + reference + " (paired mean)");
  for (const auto& name : set.names()) {
    std::vector<std::string> row = {name};
    for (const auto& c : stat_cells(stats(accs(set, name)), pct)) row.push_back(c);
    if (!reference.empty()) row.push_back(name == reference ? "0" : signed_pts(paired(set, name, reference).mean));
    p.rows.push_back(row);
  }
}

void add_column(PartResult& p, const ArmSet& set, const std::string& title,
                const std::function<std::string(const std::string& name)>& cell) {
  p.columns.push_back(title);
  const auto& names = set.names();
  for (size_t i = 0; i < names.size() && i < p.rows.size(); ++i) p.rows[i].push_back(cell(names[i]));
}

std::string f4(double v) { return fmt::format("{:.4f}", v); }
std::string sf4(double v) { return fmt::format("{:+.4f}", v); }

std::string joined(const std::vector<double>& v, const std::function<std::string(double)>& f) {
  std::string s;
  for (double x : v) s += (s.empty() ? "" : " / ") + f(x);
  return s;
}

std::string describe(const Stats& s, const std::function<bool(double)>& holds) {
  int k = 0;
  for (double x : s.v) k += holds && holds(x) ? 1 : 0;
  return fmt::format("mean {} (per seed {}; sd {:.2f}, range [{}, {}]{})", signed_pts(s.mean), joined(s.v, signed_pts),
                     s.sd, signed_pts(s.lo), signed_pts(s.hi),
                     holds ? fmt::format("; holds on {} of {} seeds", k, s.v.size()) : "");
}

std::string seeds_text(const RunOptions& o, int seeds, int default_seeds) {
  const uint64_t first = o.seed_base, last = o.seed_base + uint64_t(seeds) - 1;
  std::string s = seeds > 1 ? fmt::format("seeds {}-{}", first, last) : fmt::format("seed {}", first);
  if (o.seed_base == 0 && seeds >= default_seeds) s += " (held out)";
  if (o.seed_base >= 100 && o.seed_base <= 102) s += " (calibration seeds: criteria not to be judged here)";
  return s;
}

std::string abstract_figure(const std::string& where, const std::string& quote, const std::string& results) {
  if (!results.empty()) return fmt::format("Abstract (checked at {}): \"{}\". {}", where, quote, results);
  return fmt::format("Abstract (checked at {}): \"{}\". Its tables could not be checked: the stored copies of the "
                     "paper that this project's search tools reach hold only its first page, and no copy of its result "
                     "tables turned up elsewhere, so no figure from them is quoted here.",
                     where, quote);
}

qtorch::Number fix(int wl, int fl) { return qtorch::FixedPoint{.wl = wl, .fl = fl}.checked(); }

qtorch::Number bfp(int wl, int dim) { return qtorch::BlockFloatingPoint{.wl = wl, .dim = dim}.checked(); }

qtorch::FloatingPoint ieee(int exp, int man, bool saturate) {
  return qtorch::FloatingPoint{.exp = exp, .man = man, .range = qtorch::FloatRange::IEEE,
                               .subnormals = true, .saturate = saturate}
      .checked();
}

}  // namespace qrepro
