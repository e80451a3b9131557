// Data-parallel training on MPI, run by ctest as `mpiexec -n 2 test_dist_mpi`: the
// collectives, the gradient exchange in float32 and in low precision (checked against the
// sum each rank computes itself from every rank's known gradient), error feedback, and the
// Trainer over 2 ranks against one process of the double batch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "qtorch/autograd/grad_mode.h"
#include "qtorch/core/error.h"
#include "qtorch/core/generator.h"
#include "qtorch/dist/communicator.h"
#include "qtorch/dist/data_parallel.h"
#include "qtorch/dist/payload.h"
#include "qtorch/nn/activation.h"
#include "qtorch/nn/linear.h"
#include "qtorch/nn/sequential.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/train/recipe.h"
#include "qtorch/train/trainer.h"

namespace qtorch::dist {
namespace {

std::shared_ptr<Communicator> comm() { return world(); }

// Rank r's gradient values: a fixed function of (r, i), known to every rank.
std::vector<float> gradient_of(int rank, int64_t n, float small = 0) {
  std::vector<float> g(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    g[static_cast<size_t>(i)] = std::sin(0.37f * float(i) + 1.3f * float(rank)) * std::ldexp(1.0f, int(i % 7) - 3) + small;
  return g;
}

Tensor parameter_with_grad(const std::vector<float>& grad, const Shape& shape) {
  Tensor p = zeros(shape);
  p.requires_grad_(true);
  p.set_grad(Tensor::from_vector(grad, shape));
  return p;
}

TEST(DistMpi, RunsOnTwoRanks) {
  ASSERT_EQ(comm()->size(), 2) << "run under mpiexec -n 2";
}

TEST(DistMpi, CollectivesGatherReduceAndBroadcast) {
  const int r = comm()->rank(), n = comm()->size();
  std::vector<uint8_t> mine(static_cast<size_t>(r + 1), static_cast<uint8_t>(10 + r));
  const auto all = comm()->all_gather(mine);
  ASSERT_EQ(all.size(), static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) EXPECT_EQ(all[static_cast<size_t>(k)], std::vector<uint8_t>(size_t(k + 1), uint8_t(10 + k)));
  std::vector<double> d = {double(r), 1.5};
  comm()->all_reduce_sum(d.data(), d.size());
  EXPECT_EQ(d, (std::vector<double>{double(n * (n - 1) / 2), 1.5 * n}));
  std::vector<float> b = {float(r), float(r)};
  comm()->broadcast(b.data(), b.size() * sizeof(float), 1);
  EXPECT_EQ(b, (std::vector<float>{1.0f, 1.0f}));
}

TEST(DistMpi, Float32ExchangeIsTheWeightedSum) {
  const int r = comm()->rank();
  const Shape shape = {5, 7};
  const double weights[2] = {0.25, 0.75};
  GradientExchange exchange(comm(), {});
  Tensor p = parameter_with_grad(gradient_of(r, 35), shape);
  const ExchangeStats stats = exchange.exchange({p}, weights[r], r + 1);
  EXPECT_EQ(stats.total_count, 3);
  EXPECT_EQ(stats.bytes_sent, 35 * 4);
  const std::vector<float> g0 = gradient_of(0, 35), g1 = gradient_of(1, 35), got = p.grad().to_vector();
  for (size_t i = 0; i < got.size(); ++i)  // two terms: the sum is the same in either order
    ASSERT_EQ(got[i], 0.25f * g0[i] + 0.75f * g1[i]) << i;
}

TEST(DistMpi, QuantizedExchangeSendsCodesAndSumsTheDecodedGradients) {
  const int r = comm()->rank();
  for (const Number& number : std::vector<Number>{BlockFloatingPoint{.wl = 8, .dim = 0}, formats::fp8_e4m3_sat(),
                                                  formats::mxfp4(), FixedPoint{.wl = 8, .fl = 4}}) {
    const Shape a = {6, 40}, b = {6};
    GradientExchange exchange(comm(), {.number = number, .rounding = Rounding::Nearest});
    Tensor pa = parameter_with_grad(gradient_of(r, 240), a), pb = parameter_with_grad(gradient_of(r, 6, 0.5f), b);
    const ExchangeStats stats = exchange.exchange({pa, pb}, 0.5, 0);
    // Header (weight, count) + the format's payload of each gradient: block8 is 1 byte per element plus scales.
    EXPECT_EQ(stats.bytes_sent, int64_t(16 + payload_size(number, a) + payload_size(number, b))) << to_string(number);
    EXPECT_EQ(stats.elements, 246);
    // Every rank knows every rank's gradient: Q (nearest) of each, summed in rank order.
    for (auto [param, shape, n, small] : {std::tuple{pa, a, 240, 0.0f}, std::tuple{pb, b, 6, 0.5f}}) {
      const std::vector<float> q0 = quant::quantize(Tensor::from_vector(gradient_of(0, n, small), shape), number, Rounding::Nearest).to_vector();
      const std::vector<float> q1 = quant::quantize(Tensor::from_vector(gradient_of(1, n, small), shape), number, Rounding::Nearest).to_vector();
      const std::vector<float> got = param.grad().to_vector();
      for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], (0.0f + 0.5f * q0[i]) + 0.5f * q1[i]) << to_string(number) << " " << i;
    }
  }
}

TEST(DistMpi, ErrorFeedbackDeliversWhatRoundingDropsOnAverage) {
  // A gradient of 1.0 and a small 0.01 in one block of block:4 (quantum 2^(0 + 2 - 4) = 0.25):
  // nearest rounding drops the 0.01 every step; with error feedback the residual carries it
  // until it is sent, so over K steps its sum is K * 0.01 within one quantum.
  const int steps = 100;
  for (bool feedback : {false, true}) {
    GradientExchange exchange(comm(), {.number = BlockFloatingPoint{.wl = 4, .dim = -1},
                                       .rounding = Rounding::Nearest, .error_feedback = feedback});
    double sent_small = 0, sent_big = 0;
    for (int t = 0; t < steps; ++t) {
      Tensor p = parameter_with_grad({1.0f, 0.01f}, {2});
      exchange.exchange({p}, 0.5, 0);
      const std::vector<float> g = p.grad().to_vector();
      sent_big += g[0];
      sent_small += g[1];
    }
    EXPECT_EQ(sent_big, double(steps));
    if (feedback) EXPECT_NEAR(sent_small, steps * 0.01, 0.25);
    else EXPECT_EQ(sent_small, 0.0);
  }
}

// With a loss scaler, a step whose exchange overflowed is skipped: its gradient is never
// applied, so error feedback keeps the residual from before it (it used to keep v - q of the
// overflowed step, inf or NaN, and every later step was skipped too).
TEST(DistMpi, ErrorFeedbackKeepsItsResidualThroughASkippedStep) {
  GradientExchange exchange(comm(), {.number = BlockFloatingPoint{.wl = 4, .dim = -1},
                                     .rounding = Rounding::Nearest,
                                     .error_feedback = true,
                                     .overflow_skips_step = true});
  // block:4 with a block maximum in [1, 2): quantum 0.25. 0.1 rounds to 0 and stays behind.
  Tensor p = parameter_with_grad({1.0f, 0.1f}, {2});
  exchange.exchange({p}, 0.5, 0);
  EXPECT_EQ(p.grad().to_vector(), (std::vector<float>{1.0f, 0.0f}));
  // An overflowed step: inf makes the block NaN; then one with a count of overflows.
  p = parameter_with_grad({std::numeric_limits<float>::infinity(), 0.1f}, {2});
  ExchangeStats stats = exchange.exchange({p}, 0.5, 0);
  EXPECT_TRUE(stats.non_finite);
  p = parameter_with_grad({1.0f, 0.1f}, {2});
  stats = exchange.exchange({p}, 0.5, 1);
  EXPECT_EQ(stats.total_count, 2);
  // The residual is still the first step's 0.1: 0.1 + 0.1 = 0.2 rounds to 0.25 on both ranks.
  p = parameter_with_grad({1.0f, 0.1f}, {2});
  exchange.exchange({p}, 0.5, 0);
  EXPECT_EQ(p.grad().to_vector(), (std::vector<float>{1.0f, 0.25f}));
}

// The residual carries the loss scale of the gradient it came from: when the scale doubles
// it doubles too (it was added at the old scale).
TEST(DistMpi, ErrorFeedbackRescalesItsResidualWithTheLossScale) {
  GradientExchange exchange(comm(), {.number = BlockFloatingPoint{.wl = 4, .dim = -1},
                                     .rounding = Rounding::Nearest,
                                     .error_feedback = true});
  Tensor p = parameter_with_grad({1.0f, 0.1f}, {2});
  exchange.exchange({p}, 0.5, 0, 1.0);  // sends {1, 0}, keeps 0.1
  // At scale 2: block maximum 2, quantum 0.5; 0.05 + 2 x 0.1 = 0.25 is half a quantum and
  // rounds up (ties toward +inf), where 0.05 + 0.1 = 0.15 would round to 0.
  p = parameter_with_grad({2.0f, 0.05f}, {2});
  exchange.exchange({p}, 0.5, 0, 2.0);
  EXPECT_EQ(p.grad().to_vector(), (std::vector<float>{2.0f, 0.5f}));
}

// A rank with no sample sends zeros and keeps its residual: the others weigh its message by
// 0, so a residual sent along would be lost.
TEST(DistMpi, ErrorFeedbackKeepsTheResidualOfARankWithNoSample) {
  GradientExchange exchange(comm(), {.number = BlockFloatingPoint{.wl = 4, .dim = -1},
                                     .rounding = Rounding::Nearest,
                                     .error_feedback = true});
  Tensor p = parameter_with_grad({1.0f, 0.1f}, {2});
  exchange.exchange({p}, 0.5, 0);  // both keep 0.1
  const bool empty = comm()->rank() == 1;
  p = parameter_with_grad(empty ? std::vector<float>{0.0f, 0.0f} : std::vector<float>{1.0f, 0.0f}, {2});
  exchange.exchange({p}, empty ? 0.0 : 1.0, 0);  // rank 0 sends 0.1 -> 0; rank 1 sends nothing
  p = parameter_with_grad({1.0f, 0.1f}, {2});
  exchange.exchange({p}, 0.5, 0);
  // Rank 0's residual is 0.1 again (0.1 rounded to 0), rank 1's still 0.1: each sends
  // 0.1 + 0.1 = 0.2 -> 0.25.
  EXPECT_EQ(p.grad().to_vector(), (std::vector<float>{1.0f, 0.25f}));
}

// A saturating communication format turns an overflowing gradient into +-max, which no check
// for inf sees: the saturated elements count as overflow (docs/numerics.md).
TEST(DistMpi, SaturationInTheCommunicationFormatCountsAsOverflow) {
  GradientExchange exchange(comm(), {.number = FloatingPoint{.exp = 5, .man = 2}, .rounding = Rounding::Nearest});
  Tensor p = parameter_with_grad({1e6f, 1.0f, -1e7f}, {3});
  const ExchangeStats stats = exchange.exchange({p}, 0.5, 0);
  EXPECT_EQ(stats.clamped, 2);
  EXPECT_EQ(stats.total_count, 4);
  EXPECT_FALSE(stats.non_finite);
  EXPECT_EQ(p.grad().to_vector(), (std::vector<float>{114688.0f, 1.0f, -114688.0f}));
}

// A block format saturates relative to its block's own scale (block:4 of [30, 1]: 30 rounds
// to 32, past the block's largest value 28), the same at any loss scale: counted, but no
// overflow that a loss scaler could cure (docs/numerics.md, "Overflow must stay visible").
TEST(DistMpi, SaturationOfABlockFormatIsCountedButIsNoOverflow) {
  GradientExchange exchange(comm(), {.number = BlockFloatingPoint{.wl = 4, .dim = -1}, .rounding = Rounding::Nearest});
  Tensor p = parameter_with_grad({30.0f, 1.0f}, {2});
  const ExchangeStats stats = exchange.exchange({p}, 0.5, 0);
  EXPECT_EQ(stats.clamped, 1);
  EXPECT_EQ(stats.total_count, 0);
  EXPECT_EQ(p.grad().to_vector(), (std::vector<float>{28.0f, 0.0f}));
}

TEST(DistMpi, AlignedGeneratorsAreRankZerosSeedAtTheFurthestOffset) {
  Generator g(comm()->rank() == 0 ? 11 : 12);
  g.reserve(comm()->rank() == 0 ? 100 : 250);
  align_generator(*comm(), g);
  EXPECT_EQ(g.seed(), 11u);
  EXPECT_EQ(g.offset(), 250u);
}

TEST(DistMpi, OptionsThatDifferBetweenRanksAreRefusedOnEveryRank) {
  const int r = comm()->rank();
  try {
    check_same_on_every_rank(*comm(), {{"recipe", "fp32"}, {"seed", r == 0 ? "4" : "5"}}, "data-parallel training");
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "data-parallel training: expected the same seed on every rank, got '5' on rank 1 and '4' on rank 0");
  }
  EXPECT_NO_THROW(check_same_on_every_rank(*comm(), {{"seed", "4"}}, "x"));
  train::TrainerOptions o{.epochs = 1, .batch_size = r == 0 ? 16 : 8, .seed = 5};
  o.communicator = comm();
  try {
    train::Trainer dp(std::make_shared<nn::Linear>(4, 2), train::Recipe{}, o);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected the same batch size on every rank, got '8' on rank 1 and '16' on rank 0"),
              std::string::npos)
        << e.what();
  }
}

TEST(DistMpi, StochasticRoundingStreamsDifferPerRank) {
  // Identical gradients on both ranks: with stochastic rounding from per-rank streams the
  // two quantized copies differ somewhere (shared bits would make them equal).
  GradientExchange exchange(comm(), {.number = BlockFloatingPoint{.wl = 4, .dim = -1}, .rounding = Rounding::Stochastic, .seed = 7});
  Tensor p = parameter_with_grad(gradient_of(0, 200), {200});
  Generator g0(7), g1(7);
  g1.set_state(7, uint64_t(1) << 48);
  const Tensor x = Tensor::from_vector(gradient_of(0, 200), {200});
  const Number number = BlockFloatingPoint{.wl = 4, .dim = -1};
  const std::vector<float> q0 = quant::quantize(x, number, Rounding::Stochastic, {.generator = &g0}).to_vector();
  const std::vector<float> q1 = quant::quantize(x, number, Rounding::Stochastic, {.generator = &g1}).to_vector();
  exchange.exchange({p}, 0.5, 0);
  EXPECT_NE(q0, q1);
  const std::vector<float> got = p.grad().to_vector();
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], (0.0f + 0.5f * q0[i]) + 0.5f * q1[i]) << i;
}

// ---- the Trainer over 2 ranks against one process of the double batch ----

data::Dataset synthetic(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> px(static_cast<size_t>(n * 16)), lb(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int label = int(rng() % 4);
    lb[static_cast<size_t>(i)] = float(label);
    for (int j = 0; j < 16; ++j) px[static_cast<size_t>(i * 16 + j)] = normal(rng) * 0.5f + (j % 4 == label ? 1.0f : 0.0f);
  }
  data::Dataset d;
  d.images = Tensor::from_vector(px, {n, 1, 4, 4});
  d.labels = Tensor::from_vector(lb, {n});
  d.num_classes = 4;
  return d;
}

nn::ModulePtr small_mlp(uint64_t seed) {
  manual_seed(seed);
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(16, 12), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(12, 4)});
}

std::vector<float> flat_weights(nn::Module& m) {
  std::vector<float> all;
  for (const Tensor& p : m.parameters())
    for (float v : p.cpu().to_vector()) all.push_back(v);
  return all;
}

train::TrainResult fit(train::Trainer& t, const data::Dataset& train_set, const data::Dataset& test_set) {
  return t.fit(train_set, test_set);
}

TEST(DistMpi, TwoRanksMatchOneProcessOfTheDoubleBatch) {
  // 97 items, global batch 32: the last global batch holds 1 item, so rank 0's share of it
  // is empty (it only takes part in the exchange).
  const data::Dataset train_set = synthetic(97, 1), test_set = synthetic(64, 2);
  train::TrainerOptions base{.epochs = 3, .batch_size = 32, .seed = 4, .update_fraction_samples = 0};
  base.optimizer.lr = 0.1;
  // Rank 1 starts from other weights: the trainer broadcasts rank 0's.
  train::Trainer single(small_mlp(9), train::Recipe{}, base);
  const train::TrainResult one = fit(single, train_set, test_set);
  train::TrainerOptions parallel = base;
  parallel.batch_size = 16;
  parallel.communicator = comm();
  train::Trainer dp(small_mlp(comm()->rank() == 0 ? 9 : 1234), train::Recipe{}, parallel);
  EXPECT_EQ(dp.ranks(), 2);
  const train::TrainResult two = fit(dp, train_set, test_set);

  // The ranks hold the same bits.
  const std::vector<float> w = flat_weights(dp.model());
  const std::vector<uint8_t> bytes(reinterpret_cast<const uint8_t*>(w.data()),
                                   reinterpret_cast<const uint8_t*>(w.data() + w.size()));
  const auto all = comm()->all_gather(bytes);
  EXPECT_EQ(all[0], all[1]) << "the ranks' weights differ";
  // One process of the double batch: equal up to float summation order. After 12 steps
  // the weights differ by at most 1e-5 (measured: a few 1e-7), the losses by 1e-5.
  const std::vector<float> w1 = flat_weights(single.model());
  ASSERT_EQ(w.size(), w1.size());
  double largest = 0;
  for (size_t i = 0; i < w.size(); ++i) largest = std::max(largest, std::fabs(double(w[i]) - double(w1[i])));
  EXPECT_LE(largest, 1e-5);
  ASSERT_EQ(one.epochs.size(), two.epochs.size());
  for (size_t e = 0; e < one.epochs.size(); ++e) {
    EXPECT_NEAR(two.epochs[e].train_loss, one.epochs[e].train_loss, 1e-5) << "epoch " << e + 1;
    EXPECT_EQ(two.epochs[e].train_accuracy, one.epochs[e].train_accuracy) << "epoch " << e + 1;
    EXPECT_EQ(two.epochs[e].test.samples, one.epochs[e].test.samples);
    ASSERT_TRUE(two.epochs[e].comm_bytes_per_step.has_value());
    EXPECT_EQ(*two.epochs[e].comm_bytes_per_step, double((16 * 12 + 12 + 12 * 4 + 4) * 4));
  }
  EXPECT_EQ(two.steps, one.steps);
  if (comm()->rank() == 0) std::printf("largest weight difference after %lld steps: %g\n", (long long)one.steps, largest);
}

// block8 rounds the optimizer's weights, gradients and momentum stochastically. With 97
// items the last global batch holds one item, so the ranks' forward and backward
// quantizers draw different amounts of random bits; the generators are aligned after each
// exchange, so the ranks keep the same weights (179 of 256 differed before).
TEST(DistMpi, StochasticRecipesKeepTheRanksEqualWhenABatchSplitsUnevenly) {
  const data::Dataset train_set = synthetic(97, 5), test_set = synthetic(32, 6);
  for (const char* name : {"block8", "fixed16"}) {
    train::TrainerOptions o{.epochs = 2, .batch_size = 16, .seed = 8, .update_fraction_samples = 0};
    o.communicator = comm();
    train::Trainer dp(small_mlp(3), train::preset(name), o);
    dp.fit(train_set, test_set);
    const std::vector<float> w = flat_weights(dp.model());
    const auto all = comm()->all_gather(std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(w.data()),
                                                             reinterpret_cast<const uint8_t*>(w.data() + w.size())));
    EXPECT_EQ(all[0], all[1]) << name << ": the ranks' weights differ";
  }
}

TEST(DistMpi, Block8CommunicationKeepsTheRanksIdenticalAndCountsItsBytes) {
  const data::Dataset train_set = synthetic(96, 3), test_set = synthetic(32, 4);
  train::Recipe recipe;
  recipe.comm = {BlockFloatingPoint{.wl = 8, .dim = 0}, Rounding::Stochastic};
  recipe.comm_error_feedback = true;
  train::TrainerOptions o{.epochs = 2, .batch_size = 16, .seed = 5, .update_fraction_samples = 0};
  o.communicator = comm();
  train::Trainer dp(small_mlp(3), recipe, o);
  const train::TrainResult res = dp.fit(train_set, test_set);
  const std::vector<float> w = flat_weights(dp.model());
  const auto all = comm()->all_gather(std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(w.data()),
                                                           reinterpret_cast<const uint8_t*>(w.data() + w.size())));
  EXPECT_EQ(all[0], all[1]);
  // 1 byte per element, a 2-byte exponent per row of each weight (per element of a bias), the
  // 4-byte exception count per tensor and the 16-byte header.
  const Number n = recipe.comm.number.value();
  const size_t expected = 16 + payload_size(n, {12, 16}) + payload_size(n, {12}) + payload_size(n, {4, 12}) + payload_size(n, {4});
  EXPECT_EQ(expected, 16u + (4 + 192 + 24) + (4 + 12 + 24) + (4 + 48 + 8) + (4 + 4 + 8));
  EXPECT_EQ(*res.epochs.back().comm_bytes_per_step, double(expected));
}

}  // namespace
}  // namespace qtorch::dist

int main(int argc, char** argv) {
  qtorch::dist::Session mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (qtorch::dist::world()->rank() != 0) {
    // One report: rank 1's results reach the exit status, its printing goes nowhere.
    delete ::testing::UnitTest::GetInstance()->listeners().Release(
        ::testing::UnitTest::GetInstance()->listeners().default_result_printer());
  }
  return RUN_ALL_TESTS();
}
