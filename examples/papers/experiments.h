// The registry of experiment parts (1a, 1b, 2, 3a, 3b, 4, 5a, 5b, 6, 7a, 7b, 8a, 8b, 8c) and the
// helpers they share: runs over several seeds grouped by arm name, statistics over seeds, and
// common formats.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "examples/papers/report.h"
#include "qtorch/quant/number.h"

namespace qrepro {

using PartFn = std::function<PartResult(const RunOptions&, const Data&)>;

struct PartInfo {
  std::string id;       ///< "1a"
  std::string paper;    ///< "gupta": runs every part of the paper
  std::string summary;  ///< one line for --list
  PartFn run;
};

/// Every part, in order.
const std::vector<PartInfo>& all_parts();
/// The parts named by `name`: a part id ("3a"), a paper number ("3") or name ("swalp"), or
/// "all". Empty when nothing matches.
std::vector<const PartInfo*> select_parts(const std::string& name);

/// Results of the same arms over several seeds, grouped by arm name in run order.
class ArmSet {
 public:
  void add(ArmResult r);
  const std::vector<ArmResult>& runs(const std::string& name) const;
  /// Mean over seeds of f(result).
  double mean(const std::string& name, const std::function<double(const ArmResult&)>& f) const;
  double acc(const std::string& name) const;  ///< mean final test accuracy
  const std::vector<std::string>& names() const { return order_; }
  /// Seed-0 run of each arm, in order (for plots).
  std::vector<const ArmResult*> first_seed() const;
  std::vector<ArmResult> all() const;
  /// Every run of the named arms (all arms when `names` is empty), grouped by arm.
  std::vector<std::pair<std::string, std::vector<const ArmResult*>>> grouped(const std::vector<std::string>& names = {}) const;

 private:
  std::map<std::string, std::vector<ArmResult>> by_name_;
  std::vector<std::string> order_;
};

/// Runs each arm (seed = config seed + options.seed_base + s) for s in [0, seeds).
ArmSet run_seeded(const std::vector<ArmConfig>& arms, int seeds, const Data& data, const RunOptions& options);

/// The protocol every part follows: 5 seeds in a full run (the held-out seeds 0-4 unless
/// --seed-base moves them; thresholds were calibrated on 100-102), 1 in a --quick run.
constexpr int kDefaultSeeds = 5;
int part_seeds(const RunOptions& o, int full = kDefaultSeeds, int quick = 1);

/// Values over seeds: the values, their mean, sample standard deviation and range.
struct Stats {
  std::vector<double> v;
  double mean = 0, sd = 0, lo = 0, hi = 0;
};
Stats stats(std::vector<double> v);
/// Each seed's final test accuracy of arm `name`, in seed order.
std::vector<double> accs(const ArmSet& set, const std::string& name);
/// Each seed's f(result) of arm `name`, in seed order.
std::vector<double> per_seed(const ArmSet& set, const std::string& name, const std::function<double(const ArmResult&)>& f);
/// Per seed: accuracy of `a` minus accuracy of `b` (paired: the same seed).
Stats paired(const ArmSet& set, const std::string& a, const std::string& b);
/// Per seed: f(a) - f(b) (paired: the same seed).
Stats paired(const ArmSet& set, const std::string& a, const std::string& b, const std::function<double(const ArmResult&)>& f);
/// The paired t statistic mean / (sd / sqrt(n)); 0 when n < 2 or sd is 0 with mean 0.
double t_statistic(const Stats& s);
/// Two-sided 95% critical value of Student's t with n - 1 degrees of freedom (n = 2..30).
double t_critical95(size_t n);
/// The table columns of a value over seeds, "<what> per seed", "mean", "sd", "min", "max", and
/// their cells for `s` with each value formatted by f.
std::vector<std::string> stat_columns(const std::string& what);
std::vector<std::string> stat_cells(const Stats& s, const std::function<std::string(double)>& f);
/// The standard table of a part: one row per arm with its final test accuracy over seeds
/// (per seed, mean, sd, min, max) and the mean paired gap to `reference` ("" for none).
void accuracy_table(PartResult& p, const ArmSet& set, const std::string& reference);
/// Appends a column to a table made by accuracy_table: cell(arm name) for each row, in order.
void add_column(PartResult& p, const ArmSet& set, const std::string& title,
                const std::function<std::string(const std::string& name)>& cell);
/// "0.4185 / 0.4229 / ..." with 4 decimals; "+0.0234 / ..." signed.
std::string f4(double v);
std::string sf4(double v);
/// "x / y / z", each value formatted by f.
std::string joined(const std::vector<double>& v, const std::function<std::string(double)>& f);
/// "mean -0.12 (per seed -0.30 / +0.05 / ...; sd 0.20, range [-0.30, +0.05]; holds on 2 of 3
/// seeds)", in points; the last part only when `holds` is given.
std::string describe(const Stats& s, const std::function<bool(double)>& holds = {});
/// "seeds 0-4 (held out)", "seeds 100-102 (calibration seeds: ...)" or "seed 7".
std::string seeds_text(const RunOptions& o, int seeds, int default_seeds);

/// The test loss per epoch of the named arms (all when empty): mean over seeds, +- sd band.
Panel test_loss_panel(const ArmSet& set, const std::vector<std::string>& names = {});
/// The test accuracy per epoch of the named arms (all when empty): mean over seeds, +- sd band.
Panel test_accuracy_panel(const ArmSet& set, const std::vector<std::string>& names = {});

/// PartResult::paper_figure: "Abstract (checked at <where>): \"<quote>\"." followed by `results`, the
/// paper's result figures with where they were checked, or, when it is empty, a sentence saying
/// that its tables could not be checked.
std::string abstract_figure(const std::string& where, const std::string& quote, const std::string& results = "");

/// Fixed point <wl, fl> with clamping.
qtorch::Number fix(int wl, int fl);
/// Block floating point <wl, dim>.
qtorch::Number bfp(int wl, int dim);
/// IEEE-like float eXmY: subnormals, top exponent code reserved; saturate picks +-max or inf.
qtorch::FloatingPoint ieee(int exp, int man, bool saturate);

// The parts (one file per paper).
PartResult run_1a(const RunOptions& o, const Data& d);
PartResult run_1b(const RunOptions& o, const Data& d);
PartResult run_2(const RunOptions& o, const Data& d);
PartResult run_3a(const RunOptions& o, const Data& d);
PartResult run_3b(const RunOptions& o, const Data& d);
PartResult run_4(const RunOptions& o, const Data& d);
PartResult run_5a(const RunOptions& o, const Data& d);
PartResult run_5b(const RunOptions& o, const Data& d);
PartResult run_6(const RunOptions& o, const Data& d);
PartResult run_7a(const RunOptions& o, const Data& d);
PartResult run_7b(const RunOptions& o, const Data& d);
PartResult run_8a(const RunOptions& o, const Data& d);
PartResult run_8b(const RunOptions& o, const Data& d);
PartResult run_8c(const RunOptions& o, const Data& d);

/// The arms of parts 7a (fp32, MXFP8, MXFP6) and 7b (fp32, MXFP4 nearest, MXFP4 SR backward,
/// NVFP4 nearest, NVFP4 SR backward) before seeding, for the mechanism tests.
std::vector<ArmConfig> microscaling_arms_7a(const RunOptions& o);
std::vector<ArmConfig> microscaling_arms_7b(const RunOptions& o);
/// The arms of parts 8b (fp32; e5m2 products with fp16 or e8m3 accumulators, plain, chunks of
/// 64, Kahan) and 8c (for each hidden width H, fp32 and e8mM accumulators in the last layer).
std::vector<ArmConfig> accumulation_arms_8b(const RunOptions& o);
std::vector<ArmConfig> accumulation_arms_8c(const RunOptions& o);

}  // namespace qrepro
