// The fused SGD update (optim/sgd_kernel.h) on the GPU against the CPU: the same bits for
// every option, over several steps, with more parameters than one launch takes (48), a
// parameter larger than one CUDA block's chunk, and a non-contiguous parameter.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "qtorch/optim/sgd.h"
#include "qtorch/qtorch.h"
#include "tests/cuda/parity.h"

using namespace qtorch;
using parity::kGpu;

TEST(CudaOptim, FusedSGDGivesTheCpuBits) {
  QTORCH_REQUIRE_CUDA();
  const optim::SGDOptions cases[] = {
      {.lr = 0.1},
      {.lr = 0.07, .momentum = 0.9, .dampening = 0.3},
      {.lr = 0.3, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = true},
      {.lr = 0.05, .momentum = 0.8, .weight_decay = 1e-3},
  };
  uint32_t seed = 700;
  for (const optim::SGDOptions& o : cases) {
    std::vector<Tensor> cpu, gpu;
    auto add = [&](const Tensor& t) {
      cpu.push_back(t.clone().requires_grad_());
      gpu.push_back(t.to(kGpu).requires_grad_());
    };
    add(parity::random_cpu({300, 257}, seed++));  // many CUDA blocks
    for (int k = 0; k < 52; ++k) add(parity::random_cpu({k % 7 + 1, 5}, seed++));
    // A transposed parameter: updated in a contiguous copy on both devices.
    Tensor m = parity::random_cpu({30, 40}, seed++);
    cpu.push_back(m.clone().transpose(0, 1).requires_grad_());
    gpu.push_back(m.to(kGpu).transpose(0, 1).requires_grad_());
    optim::SGD sgd_cpu(cpu, o), sgd_gpu(gpu, o);
    for (int step = 0; step < 3; ++step) {
      for (size_t i = 0; i < cpu.size(); ++i) {
        Tensor g = parity::random_cpu(cpu[i].shape(), seed++);
        cpu[i].set_grad(g);
        gpu[i].set_grad(g.to(kGpu));
      }
      sgd_cpu.step();
      sgd_gpu.step();
      for (size_t i = 0; i < cpu.size(); ++i)
        parity::expect_same_bits(cpu[i], gpu[i], "SGD lr " + std::to_string(o.lr) + " momentum " +
                                                     std::to_string(o.momentum) + " step " + std::to_string(step) +
                                                     " parameter " + std::to_string(i));
    }
  }
}
