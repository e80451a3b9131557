// The fused optimizer updates (optim/sgd_kernel.h, optim/adam_kernel.h) on the GPU against
// the CPU: the same bits for every option, over several steps, with more parameters than one
// launch takes (48 for SGD, 40 for Adam), a parameter larger than one CUDA block's chunk,
// and a non-contiguous parameter.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "qtorch/optim/adam.h"
#include "qtorch/optim/sgd.h"
#include "qtorch/qtorch.h"
#include "tests/cuda/parity.h"

using namespace qtorch;
using parity::kGpu;

namespace {

/// The same parameters on both devices: one of 77 100 elements, 52 small ones, and a
/// transposed one.
void make_parameters(uint32_t& seed, std::vector<Tensor>& cpu, std::vector<Tensor>& gpu) {
  auto add = [&](const Tensor& t) {
    cpu.push_back(t.clone().requires_grad_());
    gpu.push_back(t.to(kGpu).requires_grad_());
  };
  add(parity::random_cpu({300, 257}, seed++));
  for (int k = 0; k < 52; ++k) add(parity::random_cpu({k % 7 + 1, 5}, seed++));
  Tensor m = parity::random_cpu({30, 40}, seed++);
  cpu.push_back(m.clone().transpose(0, 1).requires_grad_());
  gpu.push_back(m.to(kGpu).transpose(0, 1).requires_grad_());
}

/// Three steps of both optimizers on the same gradients; every parameter compared bit for bit.
void step_and_compare(optim::Optimizer& on_cpu, optim::Optimizer& on_gpu, std::vector<Tensor>& cpu,
                      std::vector<Tensor>& gpu, uint32_t& seed, const std::string& label) {
  for (int step = 0; step < 3; ++step) {
    for (size_t i = 0; i < cpu.size(); ++i) {
      Tensor g = parity::random_cpu(cpu[i].shape(), seed++);
      cpu[i].set_grad(g);
      gpu[i].set_grad(g.to(kGpu));
    }
    on_cpu.step();
    on_gpu.step();
    for (size_t i = 0; i < cpu.size(); ++i)
      parity::expect_same_bits(cpu[i], gpu[i], label + " step " + std::to_string(step) + " parameter " + std::to_string(i));
  }
}

}  // namespace

TEST(CudaOptim, FusedAdamGivesTheCpuBits) {
  QTORCH_REQUIRE_CUDA();
  uint32_t seed = 900;
  for (bool decoupled : {false, true}) {
    std::vector<Tensor> cpu, gpu;
    make_parameters(seed, cpu, gpu);
    if (decoupled) {
      optim::AdamW on_cpu(cpu, optim::AdamWOptions{.lr = 1e-2, .weight_decay = 5e-2});
      optim::AdamW on_gpu(gpu, optim::AdamWOptions{.lr = 1e-2, .weight_decay = 5e-2});
      step_and_compare(on_cpu, on_gpu, cpu, gpu, seed, "AdamW");
    } else {
      optim::Adam on_cpu(cpu, optim::AdamOptions{.lr = 3e-3, .beta1 = 0.8, .eps = 1e-6, .weight_decay = 1e-2});
      optim::Adam on_gpu(gpu, optim::AdamOptions{.lr = 3e-3, .beta1 = 0.8, .eps = 1e-6, .weight_decay = 1e-2});
      step_and_compare(on_cpu, on_gpu, cpu, gpu, seed, "Adam");
    }
  }
}

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
    make_parameters(seed, cpu, gpu);
    optim::SGD sgd_cpu(cpu, o), sgd_gpu(gpu, o);
    step_and_compare(sgd_cpu, sgd_gpu, cpu, gpu, seed,
                     "SGD lr " + std::to_string(o.lr) + " momentum " + std::to_string(o.momentum));
  }
}
