// Training throughput (samples/s) of the docs/benchmarks.md workloads: the MLP 784-256-256-10
// and LeNet-5 in fp32 and block8 (8-bit block floating point, one exponent per row along
// axis 0, stochastic, forward and backward, and OptimLP on weights, gradients and momentum:
// qtrain's block8 preset), SGD lr 0.05 momentum 0.9. block8 quantizes after each linear and
// conv layer (qtrain's default placement); block8_every_layer after every layer and
// activation, as docs/benchmarks.md words the workload (qtrain --quantize-after all).
// On the CPU at batch 128; on a GPU, when one is visible, at batch 128 and 1024. Data are
// random images and labels already on the device, so the figures are of the training step
// alone. Each timed iteration runs 20 steps (and waits once on a GPU); the fp32 variant of
// each model, device and batch is the ratio table's baseline.
// Goals (docs/benchmarks.md): CPU block8 at most 1.15x the fp32 step time, i.e. a share of at
// least 0.87. GPU peers on an H100: PyTorch fp32 MLP 70 000 samples/s at batch 128 (first
// epoch), libtorch MLP 159 000, LeNet 94 000 (steady state).
// Run: GOMP_SPINCOUNT=3000 build/bench/train_bench   (qtrain's own wait policy; see its main.cpp)
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/nn/nn.h"
#include "qtorch/nn/quantizer_module.h"
#include "qtorch/optim/optim_lp.h"
#include "qtorch/optim/sgd.h"
#include "qtorch/qtorch.h"
#include "qtorch/quant/quantize.h"
#include "qtorch/quant/quantizer.h"
#include "ratio_reporter.h"

using namespace qtorch;

namespace {

constexpr int kStepsPerIteration = 20;

nn::ModulePtr relu() { return std::make_shared<nn::ReLU>(); }

nn::ModulePtr mlp(int64_t in, int64_t hidden) {
  return nn::sequential({std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(in, hidden), relu(),
                         std::make_shared<nn::Linear>(hidden, hidden), relu(),
                         std::make_shared<nn::Linear>(hidden, 10)});
}

nn::ModulePtr lenet() {
  return nn::sequential({std::make_shared<nn::Conv2d>(1, 6, 5, nn::Conv2dOptions{.padding = 2}), relu(),
                         std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Conv2d>(6, 16, 5),
                         relu(), std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
                         std::make_shared<nn::Linear>(400, 120), relu(),
                         std::make_shared<nn::Linear>(120, 84), relu(),
                         std::make_shared<nn::Linear>(84, 10)});
}

// In place, and the whole list of a step's tensors in one call (one launch on a GPU), as
// qtrain's recipes do (train::role_quantizer_fn).
optim::QuantFn in_place(Number number) {
  return optim::QuantFn(
      [number](const Tensor& x) {
        if (!x.is_contiguous()) return quant::quantize(x, number, Rounding::Stochastic);
        quant::quantize_into(x, x, number, Rounding::Stochastic);
        return x;
      },
      [number](const std::vector<Tensor>& xs) { quant::quantize_each_in_place(xs, number, Rounding::Stochastic); });
}

// block8: qtrain's default placement, a quantizer after each linear and conv layer
// (examples/qtrain/placement.h); block8_every_layer: docs/benchmarks.md's literal workload, one after
// every layer and activation (qtrain --quantize-after all); block8_unfused: block8 with each
// linear and conv layer's bias add and each ReLU kept out of the quantizer between them (a
// forward hook that changes nothing on each such module), so its gap to block8 is what those
// fusions save.
enum class Variant { Fp32, Block8, Block8EveryLayer, Block8Unfused };

// tiny_mlp: the MLP's layers and step at widths 4-8-8-10 on 2x2 images, so that the
// arithmetic is negligible and the step's time is the engine's own work per op (autograd
// nodes, allocation, checks, dispatch): the host cost that bounds a GPU step at small batch.
enum class Model { Mlp, LeNet, TinyMlp };

const char* model_name(Model m) { return m == Model::Mlp ? "mlp" : m == Model::LeNet ? "lenet" : "tiny_mlp"; }

void train(benchmark::State& state, Device device, Model which, Variant variant, int64_t batch) {
  manual_seed(0);
  nn::ModulePtr model = which == Model::Mlp ? mlp(784, 256) : which == Model::LeNet ? lenet() : mlp(4, 8);
  const bool block8 = variant != Variant::Fp32;
  if (block8) {
    using K = nn::LayerKind;
    const std::vector<K> kinds = variant == Variant::Block8EveryLayer
                                     ? std::vector<K>{K::Linear, K::Conv, K::Activation, K::Pooling}
                                     : std::vector<K>{K::Linear, K::Conv};
    model = nn::make_low_precision(*model, kinds,
                                   [] {
                                     // block:8:0, stochastic, forward and backward
                                     return std::make_shared<nn::Quantizer>(quant::QuantizerOptions{
                                         .forward_number = BlockFloatingPoint{.wl = 8, .dim = 0},
                                         .backward_number = BlockFloatingPoint{.wl = 8, .dim = 0}});
                                   });
  }
  if (variant == Variant::Block8Unfused)
    for (auto& [name, m] : model->named_modules())
      if (dynamic_cast<nn::Linear*>(m.get()) != nullptr || dynamic_cast<nn::Conv2d*>(m.get()) != nullptr ||
          dynamic_cast<nn::ReLU*>(m.get()) != nullptr)
        m->register_forward_hook([](nn::Module&, const Tensor&, const Tensor&) { return Tensor(); });
  model->to(device);
  auto sgd = std::make_shared<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.05, .momentum = 0.9});
  std::shared_ptr<optim::Optimizer> opt = sgd;
  if (block8) {
    opt = std::make_shared<optim::OptimLP>(
        sgd, optim::OptimLPOptions{.weight_quant = in_place(BlockFloatingPoint{.wl = 8, .dim = 0}),
                                   .grad_quant = in_place(BlockFloatingPoint{.wl = 8, .dim = 0}),
                                   .momentum_quant = in_place(BlockFloatingPoint{.wl = 8, .dim = 0})});
  }
  const int64_t side = which == Model::TinyMlp ? 2 : 28;
  Tensor x = rand({batch, 1, side, side}, device);
  // Class labels 0..9 made on the host once; the step itself never leaves the device.
  std::vector<float> t(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) t[static_cast<size_t>(i)] = static_cast<float>((i * 7) % 10);
  Tensor labels = Tensor::from_vector(t, {batch}, device);
  auto step = [&] {
    opt->zero_grad();
    Tensor loss = cross_entropy((*model)(x), labels);
    loss.backward();
    opt->step();
  };
  Backend& backend = backend_for(device);
  for (int i = 0; i < 3; ++i) step();  // warm-up: allocator caches, cuBLAS heuristics
  backend.synchronize();
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kStepsPerIteration; ++i) step();
    backend.synchronize();
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  state.SetItemsProcessed(state.iterations() * kStepsPerIteration * batch);
  state.counters["samples_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kStepsPerIteration * batch), benchmark::Counter::kIsRate);
}

void register_model(const std::string& device_name, Device device, Model model, int64_t batch) {
  std::string group = device_name + "_" + model_name(model) + "_batch" + std::to_string(batch);
  for (auto [name, variant] : {std::pair{"/baseline", Variant::Fp32}, std::pair{"/block8", Variant::Block8},
                                std::pair{"/block8_every_layer", Variant::Block8EveryLayer},
                                std::pair{"/block8_unfused", Variant::Block8Unfused}})
    benchmark::RegisterBenchmark((group + name).c_str(), train, device, model, variant, batch)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  return qtorch::bench::run_with_ratios(argc, argv, [] {
    for (Model model : {Model::Mlp, Model::LeNet}) register_model("cpu", Device::cpu(), model, 128);
    register_model("cpu", Device::cpu(), Model::TinyMlp, 2);
    if (qtorch::cuda_is_available()) {
      for (Model model : {Model::Mlp, Model::LeNet})
        for (int64_t batch : {int64_t{128}, int64_t{1024}}) register_model("cuda", Device::cuda(), model, batch);
      register_model("cuda", Device::cuda(), Model::TinyMlp, 2);
    } else {
      std::printf("train_bench: no CUDA device visible (or a build without CUDA): CPU only\n");
    }
    return true;
  });
}
