// A minimal qtorch program: an MLP learns two interleaved spirals from raw tensor ops,
// printing its loss as it falls. Usage: spirals [steps] [seed]
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "qtorch/qtorch.h"

using namespace qtorch;

int main(int argc, char** argv) {
  try {
    // The whole text as a decimal integer in [min, max], or a usage error naming it.
    auto number = [](const char* what, const char* text, uint64_t min, uint64_t max) -> std::optional<uint64_t> {
      uint64_t v = 0;
      const char* end = text + std::strlen(text);
      auto [at, ec] = std::from_chars(text, end, v);
      if (ec != std::errc() || at != end || *text == '\0' || v < min || v > max) {
        std::fprintf(stderr, "spirals: expected %s as an integer in [%llu, %llu], got '%s' (usage: spirals [steps] [seed])\n",
                     what, (unsigned long long)min, (unsigned long long)max, text);
        return std::nullopt;
      }
      return v;
    };
    if (argc > 3 || (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0))) {
      std::fprintf(argc > 3 ? stderr : stdout, "usage: spirals [steps (1 to 1000000, default 2000)] [seed (default 0)]\n");
      return argc > 3 ? 2 : 0;
    }
    const std::optional<uint64_t> steps_given = argc > 1 ? number("steps", argv[1], 1, 1000000) : 2000;
    const std::optional<uint64_t> seed_given = argc > 2 ? number("seed", argv[2], 0, UINT64_MAX) : 0;
    if (!steps_given || !seed_given) return 2;
    const int steps = static_cast<int>(*steps_given);
    const uint64_t seed = *seed_given;
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
