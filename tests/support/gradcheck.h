// The one finite-difference gradient checker every differentiable op is tested with.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "qtorch/autograd/elementwise.h"
#include "qtorch/autograd/grad_mode.h"
#include "qtorch/autograd/reduce.h"
#include "qtorch/core/generator.h"
#include "qtorch/core/tensor.h"

namespace qtorch::testing {

using Function = std::function<Tensor(const std::vector<Tensor>&)>;

/// Checks the analytic gradient of sum(f(inputs) * w), for a fixed random w, against
/// central differences on every element of every input. Inputs may be non-contiguous
/// views; they are perturbed through their own strides.
inline void expect_gradients_match(const Function& f, std::vector<Tensor> inputs, float eps = 1e-2f,
                                   float atol = 2e-2f, float rtol = 2e-2f) {
  for (Tensor& x : inputs) x.requires_grad_(true);
  Tensor probe;
  {
    NoGradGuard guard;
    Tensor y = f(inputs);
    manual_seed(1234);
    probe = rand(y.shape()) + 0.5f;  // weights in [0.5, 1.5): every output element matters
  }
  Tensor loss = sum(f(inputs) * probe);
  loss.backward();
  NoGradGuard guard;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor x = inputs[k];
    ASSERT_TRUE(x.grad().defined()) << "input " << k << " got no gradient";
    ASSERT_EQ(x.grad().shape(), x.shape()) << "input " << k;
    std::vector<float> analytic = x.grad().to_vector();
    // Perturb element i of x in place through a one-element view of it.
    Shape idx(x.dim(), 0);
    for (int64_t i = 0; i < x.numel(); ++i) {
      int64_t rem = i, off = x.offset();
      for (int64_t d = x.dim() - 1; d >= 0; --d) {
        off += (rem % x.shape()[d]) * x.strides()[d];
        rem /= x.shape()[d];
      }
      Tensor cell = as_strided(x, {}, {}, off);
      float orig = cell.item();
      cell.fill_(orig + eps);
      double up = sum(f(inputs) * probe).item();
      cell.fill_(orig - eps);
      double down = sum(f(inputs) * probe).item();
      cell.fill_(orig);
      double numeric = (up - down) / (2.0 * eps);
      EXPECT_NEAR(analytic[i], numeric, atol + rtol * std::fabs(numeric))
          << "input " << k << " element " << i;
    }
  }
}

}  // namespace qtorch::testing
