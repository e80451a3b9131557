// GPU training throughput (samples/s) of the BENCHMARKS.md workloads: the MLP 784-256-256-10
// and LeNet-5, fp32 and block8 (8-bit block floating point, stochastic, after every layer
// and activation forward and backward, and OptimLP on weights, gradients and momentum, as
// qtrain's block8 preset), SGD lr 0.05 momentum 0.9, batch 128 and 1024. Data are random
// images and labels already on the GPU, so the figures are of the training step alone.
// Each timed iteration runs 20 steps and waits once; the fp32 variant of each model and
// batch is the ratio table's baseline. Peer figures on an H100: PyTorch fp32 MLP 70 000
// samples/s at batch 128 (first epoch), libtorch MLP 159 000, LeNet 94 000 (steady state).
// Run: build/bench/gpu_train   (exits at once, saying so, when no GPU is visible)
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "nn/nn.h"
#include "nn/quantizer_module.h"
#include "optim/optim_lp.h"
#include "optim/sgd.h"
#include "qtorch/qtorch.h"
#include "quant/quantize.h"
#include "quant/quantizer.h"
#include "ratio_reporter.h"

using namespace qtorch;

namespace {

constexpr int kStepsPerIteration = 20;
const Device kGpu = Device::cuda();

nn::ModulePtr relu() { return std::make_shared<nn::ReLU>(); }

nn::ModulePtr mlp() {
  return nn::sequential({std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 256), relu(),
                         std::make_shared<nn::Linear>(256, 256), relu(),
                         std::make_shared<nn::Linear>(256, 10)});
}

nn::ModulePtr lenet() {
  return nn::sequential({std::make_shared<nn::Conv2d>(1, 6, 5, nn::Conv2dOptions{.padding = 2}), relu(),
                         std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Conv2d>(6, 16, 5),
                         relu(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
                         std::make_shared<nn::Linear>(400, 120), relu(),
                         std::make_shared<nn::Linear>(120, 84), relu(),
                         std::make_shared<nn::Linear>(84, 10)});
}

optim::QuantFn in_place(Number number) {
  return [number](const Tensor& x) {
    if (!x.is_contiguous()) return quant::quantize(x, number, Rounding::Stochastic);
    quant::quantize_into(x, x, number, Rounding::Stochastic);
    return x;
  };
}

void train(benchmark::State& state, bool mlp_model, bool block8, int64_t batch) {
  manual_seed(0);
  nn::ModulePtr model = mlp_model ? mlp() : lenet();
  if (block8) {
    using K = nn::LayerKind;
    model = nn::make_low_precision(*model, {K::Linear, K::Conv, K::Activation},
                                   [] {
                                     // block:8:0, stochastic, forward and backward
                                     return std::make_shared<nn::Quantizer>(quant::QuantizerOptions{
                                         .forward_number = BlockFloatingPoint{.wl = 8, .dim = 0},
                                         .backward_number = BlockFloatingPoint{.wl = 8, .dim = 0}});
                                   });
  }
  model->to(kGpu);
  auto sgd = std::make_shared<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
  std::shared_ptr<optim::Optimizer> opt = sgd;
  if (block8) {
    opt = std::make_shared<optim::OptimLP>(
        sgd, optim::OptimLPOptions{.weight_quant = in_place(BlockFloatingPoint{.wl = 8, .dim = -1}),
                                   .grad_quant = in_place(BlockFloatingPoint{.wl = 8, .dim = 0}),
                                   .momentum_quant = in_place(BlockFloatingPoint{.wl = 8, .dim = -1})});
  }
  Tensor x = rand({batch, 1, 28, 28}, kGpu);
  // Class labels 0..9 made on the host once; the step itself never leaves the GPU.
  std::vector<float> t(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) t[static_cast<size_t>(i)] = static_cast<float>((i * 7) % 10);
  Tensor labels = Tensor::from_vector(t, {batch}, kGpu);
  auto step = [&] {
    opt->zero_grad();
    Tensor loss = cross_entropy((*model)(x), labels);
    loss.backward();
    opt->step();
  };
  Backend& gpu = backend_for(kGpu);
  for (int i = 0; i < 3; ++i) step();  // warm-up: allocator cache, cuBLAS heuristics
  gpu.synchronize();
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kStepsPerIteration; ++i) step();
    gpu.synchronize();
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  state.SetItemsProcessed(state.iterations() * kStepsPerIteration * batch);
  state.counters["samples_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kStepsPerIteration * batch), benchmark::Counter::kIsRate);
}

void register_all() {
  for (bool mlp_model : {true, false}) {
    for (int64_t batch : {int64_t{128}, int64_t{1024}}) {
      std::string group = std::string(mlp_model ? "mlp" : "lenet") + "_batch" + std::to_string(batch);
      benchmark::RegisterBenchmark((group + "/baseline").c_str(), train, mlp_model, false, batch)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark((group + "/block8").c_str(), train, mlp_model, true, batch)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  return qtorch::bench::run_with_ratios(argc, argv, [] {
    if (!qtorch::cuda_is_available()) {
      std::printf("%s: no CUDA device visible (or a build without CUDA): nothing to run\n", "gpu_train");
      return false;
    }
    register_all();
    return true;
  });
}
