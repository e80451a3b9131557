// Convolution: the direct kernels against im2col + GEMM (the baseline of each group), at batch
// 128, for LeNet's two convolutions and larger channel counts of small CNNs. Each iteration runs
// the forward pass and both gradients, as a training step does. The rules that pick the
// algorithm by shape (CpuBackend and CudaBackend::conv2d_direct_preferred) come from these ratios.
// Groups are named c<in>_o<out>_k<kernel>_<size>[_p<padding>]; with a GPU, cuda_<group>_b<batch>
// repeat them on the device at batch 128 and 1024 (shapes the direct kernels do not take are
// left out), waiting for the device at the end of each iteration.
// Run: GOMP_SPINCOUNT=3000 build/bench/conv_bench
#include <string>

#include "qtorch/core/backend.h"
#include "qtorch/core/ops.h"
#include "qtorch/qtorch.h"
#include "ratio_reporter.h"

using namespace qtorch;

namespace {

struct Shape2d {
  int64_t c, o, k, size, pad;
};

const Shape2d kShapes[] = {
    {1, 6, 5, 28, 2},    // LeNet conv1
    {6, 16, 5, 14, 0},   // LeNet conv2
    {3, 16, 3, 32, 1},   // a CIFAR-sized first layer
    {16, 32, 3, 16, 1},  // VGG-style small CNN, middle layers
    {32, 32, 3, 16, 1},
    {64, 64, 3, 16, 1},
    {32, 64, 3, 8, 1},
    {64, 64, 3, 8, 1},
};

void conv_step(benchmark::State& state, Shape2d s, ConvAlgorithm algorithm, Device device, int64_t batch) {
  manual_seed(0);
  Tensor x = randn({batch, s.c, s.size, s.size}).to(device), w = randn({s.o, s.c, s.k, s.k}).to(device);
  Tensor b = randn({s.o}).to(device);
  const Conv2dParams p{.pad_h = s.pad, .pad_w = s.pad, .algorithm = algorithm};
  Tensor dy = randn(ops::conv2d(x, w, b, p).shape()).to(device);
  Backend& backend = backend_for(device);
  for (auto _ : state) {
    Tensor y = ops::conv2d(x, w, b, p);
    Tensor dx = ops::conv2d_backward_input(dy, w, x.shape(), p);
    Tensor dw = ops::conv2d_backward_weight(dy, x, w.shape(), p);
    benchmark::DoNotOptimize(y.data_ptr());
    benchmark::DoNotOptimize(dx.data_ptr());
    benchmark::DoNotOptimize(dw.data_ptr());
    backend.synchronize();
  }
}

std::string group_of(const Shape2d& s) {
  return "c" + std::to_string(s.c) + "_o" + std::to_string(s.o) + "_k" + std::to_string(s.k) + "_" +
         std::to_string(s.size) + (s.pad > 0 ? "_p" + std::to_string(s.pad) : "");
}

void add_pair(const std::string& group, const Shape2d& s, Device device, int64_t batch) {
  benchmark::RegisterBenchmark((group + "/baseline").c_str(), conv_step, s, ConvAlgorithm::Im2col, device, batch)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark((group + "/direct").c_str(), conv_step, s, ConvAlgorithm::Direct, device, batch)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  return qtorch::bench::run_with_ratios(argc, argv, [] {
    for (const Shape2d& s : kShapes) add_pair(group_of(s), s, Device::cpu(), 128);
    if (cuda_is_available()) {
      const Device gpu = Device::cuda(0);
      for (int64_t batch : {128, 1024})
        for (const Shape2d& s : kShapes) {
          const Window2d g{.c = s.c, .kh = s.k, .kw = s.k};
          if (!backend_for(gpu).conv2d_direct_supported(g, s.o)) continue;
          add_pair("cuda_" + group_of(s) + "_b" + std::to_string(batch), s, gpu, batch);
        }
    }
    return true;
  });
}
