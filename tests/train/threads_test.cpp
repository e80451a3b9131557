// Several user threads may quantize and run forward/backward on independent tensors at once:
// the global generator hands out disjoint random ranges atomically, and graph ops share no
// mutable state; a thread under a GeneratorGuard draws from its own generator, so whole
// trainings in several threads give the bits each gives alone. (Run under ThreadSanitizer by
// scripts/tsan.sh.)
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "qtorch/qtorch.h"
#include "qtorch/train/models.h"
#include "qtorch/train/quant_counters.h"
#include "qtorch/train/trainer.h"

namespace qtorch {
namespace {

constexpr int kThreads = 4;

TEST(UserThreads, GlobalGeneratorHandsOutDisjointRanges) {
  manual_seed(3);
  const uint64_t start = default_generator().offset();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([] {
      Tensor x = full({1000}, 0.3f);
      for (int i = 0; i < 50; ++i) quant::quantize(x, FixedPoint{.wl = 8, .fl = 2}, Rounding::Stochastic);
    });
  for (auto& th : threads) th.join();
  // Each call reserved (1000 + 3) / 4 = 250 counter blocks; none was lost to a race.
  EXPECT_EQ(default_generator().offset() - start, uint64_t(kThreads) * 50 * 250);
}

TEST(UserThreads, OwnGeneratorsGiveTheSameBitsAsOneThread) {
  auto run = [](uint64_t seed) {
    Generator g(seed);
    Tensor x = full({4096}, 0.3f);
    return quant::quantize(x, FixedPoint{.wl = 8, .fl = 2}, Rounding::Stochastic, {.generator = &g}).to_vector();
  };
  std::vector<std::vector<float>> alone;
  for (int t = 0; t < kThreads; ++t) alone.push_back(run(100 + t));
  std::vector<std::vector<float>> together(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back([&, t] { together[t] = run(100 + t); });
  for (auto& th : threads) th.join();
  EXPECT_EQ(together, alone);
}

TEST(UserThreads, IndependentForwardBackwardMatchOneThread) {
  auto step = [](int t) {
    Tensor w = full({8, 4}, 0.1f * float(t + 1)).requires_grad_();
    Tensor x = full({16, 4}, 0.5f);
    Tensor loss = cross_entropy(linear(x, w), full({16}, float(t % 8)));
    loss.backward();
    std::vector<float> out = w.grad().to_vector();
    out.push_back(loss.item());
    return out;
  };
  std::vector<std::vector<float>> alone;
  for (int t = 0; t < kThreads; ++t) alone.push_back(step(t));
  std::vector<std::vector<float>> together(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back([&, t] { together[t] = step(t); });
  for (auto& th : threads) th.join();
  EXPECT_EQ(together, alone);
}

namespace {

// Random data in 2 classes, made from its own generator (not the one training draws from).
data::Dataset noise_data(int64_t n, uint64_t seed) {
  Generator g(seed);
  GeneratorGuard guard(g);
  Tensor x = randn({n, 1, 2, 2});
  std::vector<float> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[static_cast<size_t>(i)] = float(i % 2);
  return {x, Tensor::from_vector(labels, {n}), 2};
}

// A whole stochastic-rounding training run (block8: every role rounds stochastically, the
// evaluations too): initialisation, recipe, batches, steps and evaluations.
std::vector<float> train_run(uint64_t seed, const data::Dataset& d, std::optional<uint64_t> evaluation_seed) {
  manual_seed(seed);
  train::TrainerOptions o;
  o.epochs = 2;
  o.batch_size = 8;
  o.seed = seed;
  o.evaluation_seed = evaluation_seed;
  train::Trainer t(train::models::mlp({4, 8, 2}), train::preset("block8"), o);
  t.fit(d, d);
  std::vector<float> out;
  for (const Tensor& p : t.model().parameters())
    for (float v : p.to_vector()) out.push_back(v);
  out.push_back(static_cast<float>(default_generator().offset()));
  return out;
}

}  // namespace

// Two trainings of recipes in two threads, each under a GeneratorGuard: each gives the bits
// it gives alone (without the guard, both drew from the one process-wide generator, in an
// order that depended on timing).
TEST(UserThreads, TrainingsUnderTheirOwnGeneratorsMatchOneThread) {
  const data::Dataset d = noise_data(32, 9);
  auto guarded = [&](uint64_t seed) {
    Generator g;
    GeneratorGuard guard(g);
    return train_run(seed, d, std::nullopt);
  };
  std::vector<std::vector<float>> alone;
  for (int t = 0; t < 2; ++t) alone.push_back(guarded(50 + t));
  std::vector<std::vector<float>> together(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back([&, t] { together[t] = guarded(50 + t); });
  for (auto& th : threads) th.join();
  EXPECT_EQ(together, alone);
  // A guard is the thread's alone: the process-wide generator did not move meanwhile.
  manual_seed(4);
  Generator mine(77);
  {
    GeneratorGuard guard(mine);
    rand({100});
    EXPECT_EQ(&default_generator(), &mine);
  }
  EXPECT_EQ(default_generator().offset(), 0u);
  EXPECT_EQ(mine.offset(), 100u);
}

// An evaluation seed puts a generator in place for the evaluating thread only: another
// thread's draws meanwhile are the ones it makes alone (swapping the process-wide generator's
// state made them repeat words and the evaluations differ).
TEST(UserThreads, EvaluationSeedLeavesOtherThreadsAlone) {
  const data::Dataset d = noise_data(32, 9);
  auto draws = [] {  // from the process-wide generator
    manual_seed(5);
    std::vector<float> out;
    for (int i = 0; i < 200; ++i) {
      const std::vector<float> r =
          quant::quantize(full({64}, 0.3f), FixedPoint{.wl = 8, .fl = 2}, Rounding::Stochastic).to_vector();
      out.insert(out.end(), r.begin(), r.end());
    }
    return out;
  };
  const std::vector<float> draws_alone = draws();
  Generator training(0);
  std::vector<float> run_alone;
  {
    GeneratorGuard guard(training);
    run_alone = train_run(60, d, 11);
  }
  std::vector<float> run_together, draws_together;
  std::thread a([&] {
    Generator g(0);
    GeneratorGuard guard(g);
    run_together = train_run(60, d, 11);
  });
  std::thread b([&] { draws_together = draws(); });
  a.join();
  b.join();
  EXPECT_EQ(run_together, run_alone);
  EXPECT_EQ(draws_together, draws_alone);
}

// A trained model's copy counts into the run's totals (Module::clone shares them): from
// another thread too, without a race (ThreadSanitizer reported one on the nonzero counts).
TEST(UserThreads, QuantCountersAddFromSeveralThreads) {
  train::QuantCounters counters;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) counters.add_nonzero(train::Role::Activation, 1);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(counters.total(train::Role::Activation).nonzero, int64_t(kThreads) * 10000);
}

}  // namespace
}  // namespace qtorch
