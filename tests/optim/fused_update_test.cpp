// The fused updates of optim::SGD (optim/sgd_kernel.h) and optim::Adam/AdamW
// (optim/adam_kernel.h) against their rules written here with tensor ops, one rounding per
// operation: the same bits for every option, over several steps, with parameters that are
// not contiguous, parameters sharing one storage, values where an FMA would round
// differently, and several parameter groups.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "qtorch/autograd/grad_mode.h"
#include "qtorch/optim/adam.h"
#include "qtorch/optim/sgd.h"
#include "qtorch/qtorch.h"

using namespace qtorch;

namespace {

/// The reference: optim::SGD's documented rule for one parameter, one tensor op per product
/// and per sum.
void reference_update(Tensor& p, const Tensor& g, Tensor& buf, int& step, float lr, const optim::SGDOptions& o) {
  NoGradGuard no_grad;
  const float m = static_cast<float>(o.momentum);
  Tensor d = g.clone();
  if (o.weight_decay != 0) d = d + p * static_cast<float>(o.weight_decay);
  if (m != 0) {
    if (step == 0) {
      buf = d.clone();
    } else {
      const float keep = static_cast<float>(1.0 - o.dampening);
      buf = buf * m + (keep == 1.0f ? d : d * keep);
    }
    d = o.nesterov ? d + buf * m : buf;
  }
  ++step;
  p = p + d * (-lr);
}

/// The reference for Adam (decoupled: AdamW) with tensor ops, as optim::Adam documents it.
void reference_adam(Tensor& p, const Tensor& grad, Tensor& m, Tensor& v, int& step, double lr,
                    const optim::AdamOptions& o, bool decoupled) {
  NoGradGuard no_grad;
  if (!m.defined()) m = zeros(p.shape()), v = zeros(p.shape());
  ++step;
  Tensor g = grad.clone();
  if (o.weight_decay != 0) {
    if (decoupled)
      p = p * static_cast<float>(1.0 - lr * o.weight_decay);
    else
      g = g + p * static_cast<float>(o.weight_decay);
  }
  auto scaled = [](const Tensor& x, float a) { return a == 1.0f ? x : x * a; };
  m = m * static_cast<float>(o.beta1) + scaled(g, static_cast<float>(1.0 - o.beta1));
  v = v * static_cast<float>(o.beta2) + scaled(g * g, static_cast<float>(1.0 - o.beta2));
  const double bc1 = 1.0 - std::pow(o.beta1, step);
  const double bc2 = std::sqrt(1.0 - std::pow(o.beta2, step));
  Tensor denom = sqrt(v) / static_cast<float>(bc2) + static_cast<float>(o.eps);
  p = p + scaled(m / denom, static_cast<float>(-lr / bc1));
}

bool same_bits(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  // memcmp must not see the null data of an empty vector.
  return x.size() == y.size() && (x.empty() || std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0);
}

/// Values whose products have long mantissas, so that a fused multiply-add (one rounding)
/// and a multiply then an add (two) differ somewhere.
Tensor awkward(const Shape& shape, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(numel_of(shape)));
  uint32_t s = seed;
  for (float& e : v) {
    s = s * 1664525u + 1013904223u;
    e = (static_cast<float>(s >> 8) / 16777216.0f - 0.5f) * 3.0f + 1.0f / 3.0f;
  }
  return Tensor::from_vector(v, shape);
}

}  // namespace

TEST(SGDFused, SameBitsAsTheTensorOpsForEveryOption) {
  const optim::SGDOptions cases[] = {
      {.lr = 0.1},
      {.lr = 0.1, .momentum = 0.9},
      {.lr = 0.07, .momentum = 0.9, .dampening = 0.3},
      {.lr = 0.05, .momentum = 0.8, .weight_decay = 1e-3},
      {.lr = 0.3, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = true},
      {.lr = 0.01, .weight_decay = 0.1},
  };
  for (const optim::SGDOptions& o : cases) {
    const std::string label = "lr " + std::to_string(o.lr) + " momentum " + std::to_string(o.momentum) +
                              " dampening " + std::to_string(o.dampening) + " wd " + std::to_string(o.weight_decay) +
                              (o.nesterov ? " nesterov" : "");
    // Sizes past one OpenMP chunk (65536), one element, and a transposed (non-contiguous) matrix.
    std::vector<Tensor> ref = {awkward({300, 257}, 1), awkward({1}, 2), awkward({40, 30}, 3).transpose(0, 1)};
    std::vector<Tensor> params;
    for (const Tensor& r : ref) {
      Tensor p = r.is_contiguous() ? r.clone() : r.transpose(0, 1).clone().transpose(0, 1);
      params.push_back(p.requires_grad_());
    }
    ASSERT_FALSE(params[2].is_contiguous());
    optim::SGD sgd(params, o);
    std::vector<Tensor> bufs(params.size());
    std::vector<int> steps(params.size(), 0);
    for (int step = 0; step < 4; ++step) {
      for (size_t i = 0; i < params.size(); ++i) {
        Tensor g = awkward(params[i].shape(), static_cast<uint32_t>(10 * step + i + 7));
        params[i].set_grad(g);
        reference_update(ref[i], g, bufs[i], steps[i], static_cast<float>(o.lr), o);
      }
      sgd.step();
      for (size_t i = 0; i < params.size(); ++i)
        ASSERT_TRUE(same_bits(params[i], ref[i])) << label << ", step " << step << ", parameter " << i;
    }
    if (o.momentum != 0) {
      size_t k = 0;
      sgd.for_each_state([&](Tensor& buf) {
        EXPECT_TRUE(same_bits(buf, bufs[k])) << label << ", buffer " << k;
        ++k;
      });
      EXPECT_EQ(k, params.size());
    }
  }
}

// Each group's learning rate in the one fused pass; parameters that share a storage (here
// two halves of one buffer, a strided one among them) are updated one call each. (A
// parameter listed twice is refused by the optimizer: it took every update twice.)
TEST(SGDFused, GroupsKeepTheirLearningRatesAndParametersSharingAStorage) {
  const optim::SGDOptions o{.momentum = 0.5};
  const Tensor buffer = awkward({8, 7}, 20);
  Tensor a = buffer.narrow(0, 0, 5).detach().requires_grad_(), b = buffer.slice(0, 5, 8).slice(1, 0, 7, 3).detach();
  b.requires_grad_();
  ASSERT_EQ(a.storage().get(), b.storage().get());
  Tensor ra = a.detach().clone(), rb = b.detach().clone();
  optim::SGD sgd(std::vector<optim::ParamGroup>{{{a}, 0.5}, {{b}, 0.25}}, o);
  std::vector<Tensor> bufs(2);
  std::vector<int> steps(2, 0);
  for (int step = 0; step < 3; ++step) {
    Tensor ga = awkward({5, 7}, 30 + step), gb = awkward({3, 3}, 40 + step);
    a.set_grad(ga);
    b.set_grad(gb);
    sgd.step();
    reference_update(ra, ga, bufs[0], steps[0], 0.5f, o);
    reference_update(rb, gb, bufs[1], steps[1], 0.25f, o);
    ASSERT_TRUE(same_bits(a, ra)) << "step " << step;
    ASSERT_TRUE(same_bits(b, rb)) << "step " << step;
  }
}

TEST(AdamFused, SameBitsAsTheTensorOpsForEveryOption) {
  struct Case {
    optim::AdamOptions o;
    bool decoupled;
  };
  const Case cases[] = {
      {{.lr = 1e-3}, false},
      {{.lr = 3e-3, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 1e-2}, false},
      {{.lr = 1e-2, .weight_decay = 5e-2}, true},
      {{.lr = 0.5, .beta1 = 0.0, .beta2 = 0.5, .eps = 0.0}, false},
  };
  for (const Case& k : cases) {
    const std::string label = std::string(k.decoupled ? "AdamW" : "Adam") + " lr " + std::to_string(k.o.lr) +
                              " betas " + std::to_string(k.o.beta1) + "," + std::to_string(k.o.beta2) + " wd " +
                              std::to_string(k.o.weight_decay);
    std::vector<Tensor> ref = {awkward({300, 257}, 4), awkward({1}, 5), awkward({40, 30}, 6).transpose(0, 1)};
    std::vector<Tensor> params;
    for (const Tensor& r : ref) {
      Tensor p = r.is_contiguous() ? r.clone() : r.transpose(0, 1).clone().transpose(0, 1);
      params.push_back(p.requires_grad_());
    }
    std::unique_ptr<optim::Optimizer> opt;
    if (k.decoupled)
      opt = std::make_unique<optim::AdamW>(
          params, optim::AdamWOptions{k.o.lr, k.o.beta1, k.o.beta2, k.o.eps, k.o.weight_decay});
    else
      opt = std::make_unique<optim::Adam>(params, k.o);
    std::vector<Tensor> ms(params.size()), vs(params.size());
    std::vector<int> steps(params.size(), 0);
    for (int step = 0; step < 4; ++step) {
      for (size_t i = 0; i < params.size(); ++i) {
        Tensor g = awkward(params[i].shape(), static_cast<uint32_t>(10 * step + i + 50));
        params[i].set_grad(g);
        reference_adam(ref[i], g, ms[i], vs[i], steps[i], k.o.lr, k.o, k.decoupled);
      }
      opt->step();
      for (size_t i = 0; i < params.size(); ++i)
        ASSERT_TRUE(same_bits(params[i], ref[i])) << label << ", step " << step << ", parameter " << i;
    }
    size_t b = 0;
    opt->for_each_state([&](Tensor& t) {
      EXPECT_TRUE(same_bits(t, b % 2 == 0 ? ms[b / 2] : vs[b / 2])) << label << ", buffer " << b;
      ++b;
    });
    EXPECT_EQ(b, 2 * params.size());
  }
}
