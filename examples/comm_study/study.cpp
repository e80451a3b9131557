// The communication-format study: arms, runs, tables and criteria.
#include "examples/comm_study/study.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "qtorch/core/generator.h"
#include "qtorch/core/threads.h"
#include "qtorch/data/mnist.h"
#include "qtorch/dist/communicator.h"
#include "qtorch/train/models.h"
#include "qtorch/train/trainer.h"

namespace qcomm {
namespace train = qtorch::train;

const std::vector<Arm>& arms() {
  static const std::vector<Arm> table = {
      {"fp32", ""},
      {"block8 SR", "comm=block:8:0 stochastic"},
      {"block4", "comm=block:4 nearest"},
      {"block4 + EF", "comm=block:4 nearest; comm_error_feedback"},
  };
  return table;
}

namespace {

struct Result {
  double test_accuracy = 0, train_loss = 0, bytes_per_step = 0, seconds = 0;
};

struct Stats {
  double mean = 0, sd = 0, min = 0, max = 0;
};

Stats stats_of(const std::vector<double>& v) {
  Stats s;
  if (v.empty()) return s;
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  for (double x : v) s.mean += x / double(v.size());
  for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
  s.sd = v.size() > 1 ? std::sqrt(s.sd / double(v.size() - 1)) : 0.0;
  return s;
}

Result run_arm(const Arm& arm, uint64_t seed, const StudyOptions& o, const qtorch::data::Dataset& train_set,
               const qtorch::data::Dataset& test_set) {
  qtorch::manual_seed(seed);
  // Field by field: g++ 12 warns (falsely, -Wmaybe-uninitialized) on the designated form.
  train::TrainerOptions t;
  t.epochs = o.epochs;
  t.batch_size = o.batch_per_rank;
  t.seed = seed;
  t.update_fraction_samples = 0;
  t.optimizer = {.kind = "sgd", .lr = 0.05, .momentum = 0.9};
  t.communicator = qtorch::dist::world();
  train::Trainer trainer(train::models::by_name("mlp"), train::parse_recipe(arm.comm), t);
  const auto t0 = std::chrono::steady_clock::now();
  const train::TrainResult r = trainer.fit(train_set, test_set);
  Result out;
  out.test_accuracy = 100.0 * r.test.accuracy;
  out.train_loss = r.epochs.back().train_loss;
  out.bytes_per_step = r.epochs.back().comm_bytes_per_step.value_or(0.0);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace

// Criteria and thresholds, fixed on the calibration seeds 100-102 before seeds 0-4 were run
// (`mpirun -np 2 qcomm --seed-base 100 --seeds 3`, 2 epochs on 20 000 images). Differences
// are paired per seed (same initial weights and data order) and averaged over the seeds.
// The training loss is the mean cross-entropy over the last epoch's batches: the quantity
// whose convergence error feedback restores. Calibration (seeds 100, 101, 102):
//   block8 SR - fp32 loss:      -0.0043, -0.0012, +0.0006  (mean -0.0016)
//   block4 - fp32 loss:         +0.0208, +0.0180, +0.0207  (mean +0.0199)
//   block4+EF - fp32 loss:      +0.0067, -0.0003, +0.0017  (mean +0.0027; closes 86% of the gap)
//   fp32 - block4 accuracy:     +1.39, +0.26, +1.69 points (mean 1.11)
//   fp32 - block4+EF accuracy:  +0.86, +0.79, +0.31 points (mean 0.65: test accuracy after
//                               the last epoch scatters by about 1 point between seeds, so the
//                               recovery is judged on the loss and only reported in accuracy)
// Thresholds: about half the calibrated effect, or twice the calibrated spread for a match.
constexpr double kMatchLoss = 0.005, kDegradeLoss = 0.010, kRecoverLoss = 0.007, kClosed = 0.70;
constexpr double kDegradeAccuracy = 0.5;  // points

nlohmann::ordered_json run_study(const StudyOptions& o, bool& passed) {
  auto world = qtorch::dist::world();
  const bool leader = world->rank() == 0;
  namespace data = qtorch::data;
  const data::Dataset train_set = data::load_mnist(o.data_dir, data::Split::Train, {.limit = o.limit_train});
  const data::Dataset test_set = data::load_mnist(o.data_dir, data::Split::Test, {});
  if (leader)
    std::printf("qcomm: MLP 784-256-256-10 on %lld Fashion-MNIST images, %lld epochs, %d processes x batch %lld "
                "(global %lld), SGD lr 0.05 momentum 0.9, seeds %lld-%lld%s\n\n",
                (long long)train_set.size(), (long long)o.epochs, world->size(), (long long)o.batch_per_rank,
                (long long)o.batch_per_rank * world->size(), (long long)o.seed_base,
                (long long)(o.seed_base + o.seeds - 1), o.quick ? " (quick: byte counts judged only)" : "");
  std::vector<std::vector<Result>> results(arms().size());
  for (int64_t s = 0; s < o.seeds; ++s)
    for (size_t a = 0; a < arms().size(); ++a) {
      results[a].push_back(run_arm(arms()[a], static_cast<uint64_t>(o.seed_base + s), o, train_set, test_set));
      if (leader) {
        const Result& r = results[a].back();
        std::printf("seed %lld %-12s test accuracy %6.2f  train loss %.4f  %9.0f bytes/step  %.1f s\n",
                    (long long)(o.seed_base + s), arms()[a].name.c_str(), r.test_accuracy, r.train_loss,
                    r.bytes_per_step, r.seconds);
        std::fflush(stdout);
      }
    }

  nlohmann::ordered_json report;
  report["provenance"] = {{"program", "qcomm"},   {"command", o.command},       {"date", now_utc()},
                          {"processes", world->size()}, {"threads", qtorch::get_num_threads()},
                          {"seeds", {o.seed_base, o.seed_base + o.seeds - 1}}, {"epochs", o.epochs},
                          {"limit_train", o.limit_train}, {"batch_per_rank", o.batch_per_rank}};
  nlohmann::ordered_json table = nlohmann::ordered_json::array();
  std::vector<Stats> acc(arms().size());
  if (leader) std::printf("\n%-12s %-40s %7s %6s %7s %7s %12s\n", "arm", "test accuracy per seed", "mean", "sd", "min", "max", "bytes/step");
  for (size_t a = 0; a < arms().size(); ++a) {
    std::vector<double> v;
    std::string per_seed;
    for (const Result& r : results[a]) {
      v.push_back(r.test_accuracy);
      per_seed += (per_seed.empty() ? "" : " ") + std::to_string(r.test_accuracy).substr(0, 5);
    }
    acc[a] = stats_of(v);
    if (leader)
      std::printf("%-12s %-40s %7.2f %6.2f %7.2f %7.2f %12.0f\n", arms()[a].name.c_str(), per_seed.c_str(), acc[a].mean,
                  acc[a].sd, acc[a].min, acc[a].max, results[a].front().bytes_per_step);
    std::vector<double> losses;
    for (const Result& r : results[a]) losses.push_back(r.train_loss);
    const Stats l = stats_of(losses);
    if (leader)
      std::printf("%-12s %-40s %7.4f %6.4f %7.4f %7.4f   (training loss)\n", "", "", l.mean, l.sd, l.min, l.max);
    table.push_back({{"arm", arms()[a].name}, {"recipe", arms()[a].comm}, {"test_accuracy", v}, {"train_loss", losses},
                     {"train_loss_mean", l.mean}, {"train_loss_sd", l.sd},
                     {"mean", acc[a].mean}, {"sd", acc[a].sd}, {"min", acc[a].min}, {"max", acc[a].max},
                     {"bytes_per_step", results[a].front().bytes_per_step}});
  }
  report["arms"] = table;

  nlohmann::ordered_json criteria = nlohmann::ordered_json::array();
  passed = true;
  auto judge = [&](const std::string& claim, double value, bool ok) {
    criteria.push_back({{"claim", claim}, {"value", value}, {"pass", ok}});
    passed = passed && ok;
    if (leader) std::printf("%s  %s (measured %.3f)\n", ok ? "PASS" : "FAIL", claim.c_str(), value);
  };
  if (leader) std::printf("\n");
  const double fp32_bytes = results[0].front().bytes_per_step;
  judge("block8 sends at most 0.26 of fp32's bytes per step", results[1].front().bytes_per_step / fp32_bytes,
        results[1].front().bytes_per_step <= 0.26 * fp32_bytes);
  judge("block4 sends at most 0.135 of fp32's bytes per step", results[2].front().bytes_per_step / fp32_bytes,
        results[2].front().bytes_per_step <= 0.135 * fp32_bytes);
  if (!o.quick) {
    // Mean over seeds of arm a's figure minus arm b's.
    auto paired = [&](size_t a, size_t b, double Result::*field) {
      double d = 0;
      for (size_t s = 0; s < results[a].size(); ++s) d += results[a][s].*field - results[b][s].*field;
      return d / double(results[a].size());
    };
    const double match = paired(1, 0, &Result::train_loss), degrade = paired(2, 0, &Result::train_loss),
                 recover = paired(3, 0, &Result::train_loss);
    judge("block8 with stochastic rounding matches fp32: |mean training-loss difference| <= 0.005", match,
          std::fabs(match) <= kMatchLoss);
    judge("block4 without error feedback trains worse: mean training loss >= 0.010 above fp32", degrade,
          degrade >= kDegradeLoss);
    judge("block4 without error feedback loses >= 0.5 points of test accuracy", paired(0, 2, &Result::test_accuracy),
          paired(0, 2, &Result::test_accuracy) >= kDegradeAccuracy);
    judge("block4 with error feedback: mean training loss at most 0.007 above fp32", recover, recover <= kRecoverLoss);
    const double closed = degrade > 0 ? (degrade - recover) / degrade : 0.0;
    judge("error feedback closes >= 70% of block4's training-loss gap", closed, degrade > 0 && closed >= kClosed);
    if (leader)
      std::printf("      (reported, not judged: block4+EF is %.2f points of test accuracy below fp32)\n",
                  paired(0, 3, &Result::test_accuracy));
  }
  report["criteria"] = criteria;
  report["passed"] = passed;
  return report;
}

}  // namespace qcomm
