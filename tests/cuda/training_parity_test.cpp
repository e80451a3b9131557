// End to end on the GPU: a LeNet-style model moved with Module::to(cuda) gives the CPU's
// loss, gradients and SGD updates (within 1e-3 relative: cuBLAS and OpenBLAS sum in
// different orders, and the differences grow through the layers), and dropout draws the
// same mask on both devices for the same seed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "qtorch/nn/nn.h"
#include "qtorch/optim/sgd.h"
#include "qtorch/qtorch.h"
#include "tests/cuda/parity.h"

using namespace qtorch;
using parity::kGpu;

namespace {

nn::ModulePtr lenet() {
  return nn::sequential({std::make_shared<nn::Conv2d>(1, 6, 5, nn::Conv2dOptions{.padding = 2}),
                         std::make_shared<nn::ReLU>(), std::make_shared<nn::MaxPool2d>(2),
                         std::make_shared<nn::Conv2d>(6, 16, 5), std::make_shared<nn::ReLU>(),
                         std::make_shared<nn::AvgPool2d>(2), std::make_shared<nn::Flatten>(),
                         std::make_shared<nn::Linear>(400, 120), std::make_shared<nn::Tanh>(),
                         std::make_shared<nn::Linear>(120, 84), std::make_shared<nn::Sigmoid>(),
                         std::make_shared<nn::Linear>(84, 10)});
}

Tensor targets_for(int64_t n) {
  std::vector<float> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) t[static_cast<size_t>(i)] = static_cast<float>((i * 3) % 10);
  return Tensor::from_vector(t, {n});
}

}  // namespace

TEST(CudaTraining, LeNetLossGradientsAndStepsMatchTheCpu) {
  QTORCH_REQUIRE_CUDA();
  manual_seed(11);
  nn::ModulePtr cpu_model = lenet();
  nn::ModulePtr gpu_model = cpu_model->clone();
  gpu_model->to(kGpu);
  for (const Tensor& p : gpu_model->parameters()) ASSERT_TRUE(p.device().is_cuda());

  Tensor x = parity::random_cpu({16, 1, 28, 28}, 5, 0, 1);
  Tensor t = targets_for(16);
  Tensor xg = x.to(kGpu), tg = t.to(kGpu);
  optim::SGD sgd_c(cpu_model->parameters(), {.lr = 0.05, .momentum = 0.9});
  optim::SGD sgd_g(gpu_model->parameters(), {.lr = 0.05, .momentum = 0.9});
  for (int step = 0; step < 3; ++step) {
    sgd_c.zero_grad();
    sgd_g.zero_grad();
    Tensor lc = cross_entropy((*cpu_model)(x), t);
    Tensor lg = cross_entropy((*gpu_model)(xg), tg);
    EXPECT_NEAR(lc.item(), lg.item(), 1e-4f * std::fabs(lc.item()) + 1e-5f) << "step " << step;
    lc.backward();
    lg.backward();
    auto pc = cpu_model->named_parameters(), pg = gpu_model->named_parameters();
    ASSERT_EQ(pc.size(), pg.size());
    for (size_t i = 0; i < pc.size(); ++i)
      parity::expect_close(pc[i].second.grad(), pg[i].second.grad(), 1e-3f, 1e-5f,
                           "grad of " + pc[i].first + " at step " + std::to_string(step));
    sgd_c.step();
    sgd_g.step();
  }
  auto pc = cpu_model->named_parameters(), pg = gpu_model->named_parameters();
  for (size_t i = 0; i < pc.size(); ++i)
    parity::expect_close(pc[i].second, pg[i].second, 1e-3f, 1e-5f, "parameter " + pc[i].first);
}

TEST(CudaTraining, DropoutMaskIsTheSameOnBothDevices) {
  QTORCH_REQUIRE_CUDA();
  Tensor x = parity::random_cpu({33, 17}, 9);
  manual_seed(21);
  Tensor yc = dropout(x, 0.3f);
  manual_seed(21);
  Tensor yg = dropout(x.to(kGpu), 0.3f);
  parity::expect_same_bits(yc, yg, "dropout");
}
