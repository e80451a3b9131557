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

 private:
  std::map<std::string, std::vector<ArmResult>> by_name_;
  std::vector<std::string> order_;
};

/// Runs each arm (seed = config seed + options.seed_base + s) for s in [0, seeds).
ArmSet run_seeded(const std::vector<ArmConfig>& arms, int seeds, const Data& data, const RunOptions& options);

/// Values over seeds: the values, their mean, sample standard deviation and range.
struct Stats {
  std::vector<double> v;
  double mean = 0, sd = 0, lo = 0, hi = 0;
};
Stats stats(std::vector<double> v);
/// Each seed's final test accuracy of arm `name`, in seed order.
std::vector<double> accs(const ArmSet& set, const std::string& name);
/// Per seed: accuracy of `a` minus accuracy of `b` (paired: the same seed).
Stats paired(const ArmSet& set, const std::string& a, const std::string& b);
/// "x / y / z", each value formatted by f.
std::string joined(const std::vector<double>& v, const std::function<std::string(double)>& f);
/// "mean -0.12 (per seed -0.30 / +0.05 / ...; sd 0.20, range [-0.30, +0.05]; holds on 2 of 3
/// seeds)", in points; the last part only when `holds` is given.
std::string describe(const Stats& s, const std::function<bool(double)>& holds = {});
/// "seeds 0-4 (held out)", "seeds 100-102 (calibration seeds: ...)" or "seed 7".
std::string seeds_text(const RunOptions& o, int seeds, int default_seeds);

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
