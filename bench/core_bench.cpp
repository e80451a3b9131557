// Core op speed against direct baselines in the same run: matmul at MLP and LeNet sizes
// (batch 128) against cblas_sgemm on the same buffers, elementwise ops against raw loops,
// and SGD's fused update against the same rule as tensor ops.
// Run: build/bench/core_bench   (the table at the end gives each op's share of baseline speed)
#include <cblas.h>

#include <vector>

#include "qtorch/autograd/grad_mode.h"
#include "qtorch/optim/sgd.h"
#include "qtorch/qtorch.h"
#include "ratio_reporter.h"

using namespace qtorch;

namespace {

struct GemmCase {
  const char* name;
  int m, n, k;
  bool trans_a, trans_b;
};

// Forward and backward GEMMs of the MLP (784-256-256-10) and LeNet's im2col GEMMs.
const GemmCase kCases[] = {
    {"mlp_fc1_forward_128x784x256", 128, 256, 784, false, true},
    {"mlp_fc1_grad_weight_256x128x784", 256, 784, 128, true, false},
    {"mlp_fc2_forward_128x256x256", 128, 256, 256, false, true},
    {"mlp_fc3_forward_128x256x10", 128, 10, 256, false, true},
    {"lenet_conv1_6x25x100352", 6, 100352, 25, false, false},
    {"lenet_conv2_16x150x12800", 16, 12800, 150, false, false},
    {"lenet_fc1_forward_128x400x120", 128, 120, 400, false, true},
};

Tensor operand(int rows, int cols, bool transposed) {
  // A transposed operand is a view of a contiguous [cols, rows] tensor.
  return transposed ? randn({cols, rows}).t() : randn({rows, cols});
}

void matmul_qtorch(benchmark::State& state, GemmCase c) {
  Tensor a = operand(c.m, c.k, c.trans_a), b = operand(c.k, c.n, c.trans_b);
  for (auto _ : state) benchmark::DoNotOptimize(ops::matmul(a, b).data_ptr());
}

void matmul_cblas(benchmark::State& state, GemmCase c) {
  Tensor a = c.trans_a ? randn({c.k, c.m}) : randn({c.m, c.k});
  Tensor b = c.trans_b ? randn({c.n, c.k}) : randn({c.k, c.n});
  for (auto _ : state) {
    Tensor out = empty({c.m, c.n});  // qtorch allocates its output too
    cblas_sgemm(CblasRowMajor, c.trans_a ? CblasTrans : CblasNoTrans, c.trans_b ? CblasTrans : CblasNoTrans,
                c.m, c.n, c.k, 1.0f, a.data_ptr(), c.trans_a ? c.m : c.k, b.data_ptr(), c.trans_b ? c.k : c.n,
                0.0f, out.data_ptr(), c.n);
    benchmark::DoNotOptimize(out.data_ptr());
  }
}

constexpr int64_t kElems = 1 << 20;

void add_qtorch(benchmark::State& state) {
  Tensor a = randn({kElems}), b = randn({kElems});
  for (auto _ : state) benchmark::DoNotOptimize(ops::binary(BinaryOp::Add, a, b, "add").data_ptr());
  state.SetItemsProcessed(state.iterations() * kElems);
}

void add_raw_loop(benchmark::State& state) {
  Tensor a = randn({kElems}), b = randn({kElems});
  for (auto _ : state) {
    Tensor out = empty({kElems});
    const float *pa = a.data_ptr(), *pb = b.data_ptr();
    float* po = out.data_ptr();
    for (int64_t i = 0; i < kElems; ++i) po[i] = pa[i] + pb[i];
    benchmark::DoNotOptimize(po);
  }
  state.SetItemsProcessed(state.iterations() * kElems);
}

void bias_add_qtorch(benchmark::State& state) {  // [128, 8192] + [8192] broadcast
  Tensor a = randn({128, 8192}), b = randn({8192});
  for (auto _ : state) benchmark::DoNotOptimize(ops::binary(BinaryOp::Add, a, b, "add").data_ptr());
}

void bias_add_raw_loop(benchmark::State& state) {
  Tensor a = randn({128, 8192}), b = randn({8192});
  for (auto _ : state) {
    Tensor out = empty({128, 8192});
    const float *pa = a.data_ptr(), *pb = b.data_ptr();
    float* po = out.data_ptr();
    for (int64_t r = 0; r < 128; ++r)
      for (int64_t i = 0; i < 8192; ++i) po[r * 8192 + i] = pa[r * 8192 + i] + pb[i];
    benchmark::DoNotOptimize(po);
  }
}

void relu_qtorch(benchmark::State& state) {
  Tensor a = randn({kElems});
  for (auto _ : state) benchmark::DoNotOptimize(ops::unary(UnaryOp::Relu, a).data_ptr());
}

void relu_raw_loop(benchmark::State& state) {
  Tensor a = randn({kElems});
  for (auto _ : state) {
    Tensor out = empty({kElems});
    const float* pa = a.data_ptr();
    float* po = out.data_ptr();
    for (int64_t i = 0; i < kElems; ++i) po[i] = pa[i] > 0.0f ? pa[i] : 0.0f;
    benchmark::DoNotOptimize(po);
  }
}

void exp_qtorch(benchmark::State& state) {
  Tensor a = randn({kElems});
  for (auto _ : state) benchmark::DoNotOptimize(ops::unary(UnaryOp::Exp, a).data_ptr());
}

// One SGD step (momentum 0.9) over the MLP's six parameters: the fused update against the
// same rule as tensor ops (five per parameter), which SGD ran before.
struct MlpParameters {
  std::vector<Tensor> params, grads, bufs;
  MlpParameters() {
    for (const Shape& s : {Shape{256, 784}, Shape{256}, Shape{256, 256}, Shape{256}, Shape{10, 256}, Shape{10}}) {
      params.push_back(randn(s).requires_grad_());
      grads.push_back(randn(s));
      bufs.push_back(randn(s));
      params.back().set_grad(grads.back());
    }
  }
};

void sgd_tensor_ops(benchmark::State& state) {
  MlpParameters m;
  NoGradGuard no_grad;
  for (auto _ : state)
    for (size_t i = 0; i < m.params.size(); ++i) {
      m.bufs[i].mul_(0.9f).add_(m.grads[i], 1.0f);
      m.params[i].add_(m.bufs[i], -0.01f);
    }
}

void sgd_fused(benchmark::State& state) {
  MlpParameters m;
  optim::SGD sgd(m.params, optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
  for (auto _ : state) sgd.step();
}

void exp_raw_loop(benchmark::State& state) {
  Tensor a = randn({kElems});
  for (auto _ : state) {
    Tensor out = empty({kElems});
    const float* pa = a.data_ptr();
    float* po = out.data_ptr();
    for (int64_t i = 0; i < kElems; ++i) po[i] = std::exp(pa[i]);
    benchmark::DoNotOptimize(po);
  }
}

const bool registered = [] {
  for (const GemmCase& c : kCases) {
    std::string group = std::string("matmul_") + c.name;
    benchmark::RegisterBenchmark((group + "/baseline").c_str(), matmul_cblas, c)->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark((group + "/qtorch").c_str(), matmul_qtorch, c)->Unit(benchmark::kMicrosecond);
  }
  benchmark::RegisterBenchmark("add_1M/baseline", add_raw_loop)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("add_1M/qtorch", add_qtorch)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("bias_add_128x8192/baseline", bias_add_raw_loop)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("bias_add_128x8192/qtorch", bias_add_qtorch)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("relu_1M/baseline", relu_raw_loop)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("relu_1M/qtorch", relu_qtorch)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("exp_1M/baseline", exp_raw_loop)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("exp_1M/qtorch", exp_qtorch)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("sgd_mlp/baseline", sgd_tensor_ops)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("sgd_mlp/fused", sgd_fused)->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace

QTORCH_BENCHMARK_MAIN()
