// The Trainer on the GPU makes the host wait only where a step needs an answer: the
// quantizers' counts stay in device counters until the epoch's end, so a block8 step
// queues its work without waiting at all, and a dynamic loss scaler waits at most once per
// step: its inf/NaN probe's read, which also brings the saturation counts queued before it
// (StatsCounter::prefetch).
// The counts the GPU run reports equal the CPU run's element totals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "qtorch/autograd/reduce.h"
#include "qtorch/core/cuda/host_waits.h"
#include "qtorch/core/generator.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/quant/stats_counter.h"
#include "qtorch/train/models.h"
#include "qtorch/train/trainer.h"
#include "tests/cuda/parity.h"

using namespace qtorch;
using parity::kGpu;

namespace {

/// 512 samples of 16 features in 10 classes (random; only the mechanics matter here).
data::Dataset random_set() {
  Tensor labels = parity::random_cpu({512}, 8, 0.0f, 10.0f);
  std::vector<float> l = labels.to_vector();
  for (float& v : l) v = std::min(std::floor(v), 9.0f);  // uniform_real_distribution may return hi
  return {parity::random_cpu({512, 1, 4, 4}, 7), Tensor::from_vector(l, {512}), 10};
}

train::TrainerOptions options(Device device) {
  return {.epochs = 1, .batch_size = 64, .device = device, .optimizer = {.lr = 0.05, .momentum = 0.9},
          .eval_batch_size = 256, .update_fraction_samples = 0};
}

/// Host waits during each step of one epoch (the first step is left out: it sets up).
std::vector<int64_t> waits_per_step(train::Trainer& t, const data::Dataset& d, train::TrainResult* result) {
  std::vector<int64_t> waits;
  int64_t before = 0;
  bool first = true;
  *result = t.fit(d, d, {.on_step = [&](const train::StepInfo&) {
                           const int64_t now = cuda::host_waits();
                           if (!first) waits.push_back(now - before);
                           first = false;
                           before = now;
                         }});
  return waits;
}

}  // namespace

TEST(CudaTrainerWaits, Block8StepsNeverWaitAndCountLikeTheCpu) {
  QTORCH_REQUIRE_CUDA();
  const data::Dataset d = random_set();
  manual_seed(3);
  train::Trainer gpu(train::models::mlp({16, 32, 10}), train::preset("block8"), options(kGpu));
  train::TrainResult r;
  const std::vector<int64_t> waits = waits_per_step(gpu, d, &r);
  ASSERT_EQ(waits.size(), 7u);
  for (size_t i = 0; i < waits.size(); ++i) EXPECT_EQ(waits[i], 0) << "step " << i + 2;

  manual_seed(3);
  train::Trainer cpu(train::models::mlp({16, 32, 10}), train::preset("block8"), options(Device::cpu()));
  const train::TrainResult rc = cpu.fit(d, d);
  const auto& e_gpu = r.epochs[0].counts[static_cast<int>(train::Role::Error)];
  const auto& e_cpu = rc.epochs[0].counts[static_cast<int>(train::Role::Error)];
  EXPECT_GT(e_gpu.numel, 0);
  EXPECT_EQ(e_gpu.numel, e_cpu.numel);
  EXPECT_NEAR(double(e_gpu.flushed), double(e_cpu.flushed), 0.01 * double(e_cpu.numel));
}

TEST(CudaTrainerWaits, DynamicLossScalingWaitsAtMostOncePerStep) {
  QTORCH_REQUIRE_CUDA();
  const data::Dataset d = random_set();
  train::Recipe recipe;
  recipe[train::Role::Error] = {FloatingPoint{.exp = 4, .man = 3, .range = FloatRange::IEEE, .subnormals = true,
                                              .saturate = true},
                                Rounding::Nearest};
  recipe.loss_scaling = {train::LossScaling::Kind::Dynamic, 1e30, 2000};  // saturates, backs off
  manual_seed(3);
  train::Trainer gpu(train::models::mlp({16, 32, 10}), recipe, options(kGpu));
  train::TrainResult r;
  const std::vector<int64_t> waits = waits_per_step(gpu, d, &r);
  ASSERT_EQ(waits.size(), 7u);
  for (size_t i = 0; i < waits.size(); ++i) EXPECT_LE(waits[i], 1) << "step " << i + 2;
  EXPECT_GE(gpu.loss_scaler()->skipped_steps(), 1);  // the saturation reached the scaler
}

TEST(CudaTrainerWaits, PrefetchedCountsNeedNoWaitOfTheirOwnUnlessCountedSince) {
  QTORCH_REQUIRE_CUDA();
  // quant::StatsCounter::prefetch queues the counts' copy; a read after another wait (here a
  // tensor's item()) takes it without waiting. A call counted after the prefetch makes the
  // read wait and include it.
  const Tensor x = parity::random_cpu({1000}, 21, -4.0f, 4.0f).to(kGpu);
  const Number f = FixedPoint{.wl = 4, .fl = 2};  // [-2, 1.75]: about half of x saturates
  quant::StatsCounter counter;
  quant::quantize(x, f, Rounding::Nearest, {.counter = &counter});
  counter.prefetch();
  const float probe = sum(x).item();  // one wait, for everything queued so far
  (void)probe;
  int64_t before = cuda::host_waits();
  const QuantStats first = counter.read();
  EXPECT_EQ(cuda::host_waits(), before) << "the prefetched counts should have arrived with the item() wait";
  QuantStats cpu_stats;
  quant::quantize(x.cpu(), f, Rounding::Nearest, {.stats = &cpu_stats});
  EXPECT_EQ(first, cpu_stats);
  EXPECT_GT(first.clamped, 0);

  quant::quantize(x, f, Rounding::Nearest, {.counter = &counter});
  counter.prefetch();
  quant::quantize(x, f, Rounding::Nearest, {.counter = &counter});  // counted after the prefetch
  (void)sum(x).item();
  before = cuda::host_waits();
  const QuantStats third = counter.read();
  EXPECT_EQ(cuda::host_waits(), before + 1) << "a call counted after the prefetch must be waited for";
  EXPECT_EQ(third, (QuantStats{3 * cpu_stats.clamped, 3 * cpu_stats.flushed, 3 * cpu_stats.numel}));
}
