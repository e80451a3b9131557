// Several user threads may quantize and run forward/backward on independent tensors at once:
// the global generator hands out disjoint random ranges atomically, and graph ops share no
// mutable state. (Run under ThreadSanitizer by scripts/tsan.sh.)
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "qtorch/qtorch.h"

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

}  // namespace
}  // namespace qtorch
