// A minimal qtorch program: an MLP learns two interleaved spirals from raw tensor ops,
// printing its loss as it falls. Usage: spirals [steps] [seed]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "qtorch/qtorch.h"

using namespace qtorch;

int main(int argc, char** argv) {
  try {
    int steps = argc > 1 ? std::stoi(argv[1]) : 2000;
    uint64_t seed = argc > 2 ? std::stoull(argv[2]) : 0;
    if (steps < 1) {
      std::fprintf(stderr, "spirals: expected steps >= 1, got %d\n", steps);
      return 2;
    }
    const int per_class = 200;
    std::vector<float> xs, ys;
    for (int c = 0; c < 2; ++c) {
      for (int i = 0; i < per_class; ++i) {
        float t = 0.25f + 3.0f * static_cast<float>(i) / per_class;
        float angle = (t + c) * 3.14159265f;
        xs.push_back(t * std::cos(angle) / 3.25f);
        xs.push_back(t * std::sin(angle) / 3.25f);
        ys.push_back(static_cast<float>(c));
      }
    }
    Tensor x = Tensor::from_vector(xs, {2 * per_class, 2});
    Tensor y = Tensor::from_vector(ys, {2 * per_class});
    manual_seed(seed);
    Tensor w1 = randn({64, 2}).requires_grad_(), b1 = zeros({64}).requires_grad_();
    Tensor w2 = (randn({64, 64}) * 0.18f).requires_grad_(), b2 = zeros({64}).requires_grad_();
    Tensor w3 = (randn({2, 64}) * 0.18f).requires_grad_(), b3 = zeros({2}).requires_grad_();
    std::vector<Tensor> params{w1, b1, w2, b2, w3, b3};
    for (int step = 0; step < steps; ++step) {
      Tensor logits = linear(tanh(linear(tanh(linear(x, w1, b1)), w2, b2)), w3, b3);
      Tensor loss = cross_entropy(logits, y);
      for (Tensor& p : params) p.zero_grad();
      loss.backward();
      NoGradGuard no_grad;
      for (Tensor& p : params) p.add_(p.grad(), -0.5f);
      if (step % (steps / 10 > 0 ? steps / 10 : 1) == 0 || step == steps - 1) {
        float accuracy = mean(eq(argmax(logits, 1), y)).item();
        std::printf("step %5d  loss %.4f  accuracy %.3f\n", step, loss.item(), accuracy);
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spirals: %s\n", e.what());
    return 1;
  }
}
