// Convolution on the CPU: the direct kernels against im2col + GEMM (the baseline of each group),
// at batch 128, for LeNet's two convolutions and larger channel counts of small CNNs. Each
// iteration runs the forward pass and both gradients, as a training step does. The rule that
// picks the algorithm by shape (CpuBackend::conv2d_direct_preferred) comes from these ratios.
// Groups are named c<in>_o<out>_k<kernel>_<size>[_p<padding>].
// Run: GOMP_SPINCOUNT=3000 build/bench/conv_bench
#include <string>

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

void conv_step(benchmark::State& state, Shape2d s, ConvAlgorithm algorithm) {
  manual_seed(0);
  Tensor x = randn({128, s.c, s.size, s.size}), w = randn({s.o, s.c, s.k, s.k}), b = randn({s.o});
  const Conv2dParams p{.pad_h = s.pad, .pad_w = s.pad, .algorithm = algorithm};
  Tensor dy = randn(ops::conv2d(x, w, b, p).shape());
  for (auto _ : state) {
    Tensor y = ops::conv2d(x, w, b, p);
    Tensor dx = ops::conv2d_backward_input(dy, w, x.shape(), p);
    Tensor dw = ops::conv2d_backward_weight(dy, x, w.shape(), p);
    benchmark::DoNotOptimize(y.data_ptr());
    benchmark::DoNotOptimize(dx.data_ptr());
    benchmark::DoNotOptimize(dw.data_ptr());
  }
}

}  // namespace

int main(int argc, char** argv) {
  return qtorch::bench::run_with_ratios(argc, argv, [] {
    for (const Shape2d& s : kShapes) {
      std::string group = "c" + std::to_string(s.c) + "_o" + std::to_string(s.o) + "_k" + std::to_string(s.k) + "_" +
                          std::to_string(s.size) + (s.pad > 0 ? "_p" + std::to_string(s.pad) : "");
      benchmark::RegisterBenchmark((group + "/baseline").c_str(), conv_step, s, ConvAlgorithm::Im2col)
          ->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark((group + "/direct").c_str(), conv_step, s, ConvAlgorithm::Direct)
          ->Unit(benchmark::kMillisecond);
    }
    return true;
  });
}
