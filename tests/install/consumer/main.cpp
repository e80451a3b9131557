// Uses its own core/, nn/ and data/ headers next to qtorch's installed ones, and trains
// through the installed headers and library: one autograd step, then the recipe and trainer
// on a tiny synthetic data set; checks a gradient with the installed test toolkit.
#include "core/tensor.h"
#include "data/loader.h"
#include "nn/module.h"

#include <qtorch/qtorch.h>
#include <qtorch/testing.h>

#include <cstdio>

int main() {
  consumer::Module own;
  if (own.weight.rank != 0 || consumer::batches(10, 4) != 3) return 1;

  qtorch::Tensor x = qtorch::ones({2, 2}).requires_grad_();
  qtorch::sum(x * x).backward();
  std::printf("%s\n", x.grad().str().c_str());
  if (x.grad().to_vector() != std::vector<float>{2, 2, 2, 2}) return 1;

  // The test toolkit: the input gradients of x * w for grad_output [1, 10] are exactly
  // w * g = [1.5, -20] and x * g = [3, 40]; a one-ulp change is caught.
  using qtorch::Tensor;
  const auto f = [](const std::vector<Tensor>& v) { return v[0] * v[1]; };
  const std::vector<std::vector<float>> g = qtorch::testing::grad_of(
      f, {Tensor::from_vector({3, 4}, {2}), Tensor::from_vector({1.5f, -2}, {2})}, Tensor::from_vector({1, 10}, {2}));
  const qtorch::testing::CompareResult same = qtorch::testing::expect_bitwise_equal(g[0], {1.5f, -20});
  const qtorch::testing::CompareResult ulp = qtorch::testing::expect_bitwise_equal(g[1], {3, 40.000004f});
  std::printf("grad_of: %s; one ulp off: %s\n", same ? "bitwise equal" : same.message.c_str(), ulp.message.c_str());
  if (!same || ulp || ulp.differing != 1 || !qtorch::testing::gradcheck(f, {qtorch::randn({3}), qtorch::randn({3})}))
    return 1;

  // 32 samples of 4 features, two classes; a block8 recipe and one epoch.
  qtorch::manual_seed(0);
  qtorch::Tensor images = qtorch::randn({32, 1, 2, 2});
  std::vector<float> labels;
  for (int i = 0; i < 32; ++i) labels.push_back(float(i % 2));
  qtorch::data::Dataset data{images, qtorch::Tensor::from_vector(labels, {32}), 2};
  qtorch::train::Trainer trainer(qtorch::train::models::mlp({4, 8, 2}), qtorch::train::preset("block8"),
                                 {.epochs = 1, .batch_size = 8});
  qtorch::train::TrainResult r = trainer.fit(data, data);
  std::printf("recipe %s: %lld steps, test accuracy %.3f\n", qtorch::train::to_string(trainer.recipe()).c_str(),
              (long long)r.steps, r.test.accuracy);
  return r.steps == 4 ? 0 : 1;
}
