// The CUDA backend's random fills (core/cuda/random_kernels.cuh) run on the CPU through
// tests/support/cuda_emulation.h, launched by the library's own host code, against the CPU
// backend bit for bit: the dense uniform kernel (a Philox block per 4 elements, float4 stores
// where aligned, a tail), and the strided kernel for uniform and normal values in a transposed
// or misaligned tensor, which must still give element i (row-major) the CPU's value i.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/qtorch.h"
#include "tests/support/cuda_emulation.h"
#include "tests/support/same_bits.h"
// After the emulation: the kernels see its CUDA keywords.
#include "qtorch/core/cuda/random_kernels.cuh"

using namespace qtorch;
namespace rk = qtorch::cuda::random_kernels;
using qtorch::cuda::make_plan;

namespace {

constexpr uint64_t kSeed = 0x9e3779b97f4a7c15ULL, kOffset = (uint64_t{1} << 33) + 5;

/// The CPU backend's values for a dense [count] tensor.
std::vector<float> cpu_values(int64_t count, bool normal) {
  Tensor out = empty({count});
  Backend& cpu = backend_for(Device::cpu());
  if (normal)
    cpu.random_normal(out, kSeed, kOffset);
  else
    cpu.random_uniform(out, kSeed, kOffset);
  return out.to_vector();
}

}  // namespace

TEST(RandomKernelsEmulated, DenseUniformGivesTheCpuBits) {
  for (int64_t count : {int64_t{1}, int64_t{7}, int64_t{4099}}) {
    for (int64_t start : {int64_t{0}, int64_t{1}}) {  // 16-byte aligned, and not
      Tensor base = full({count + start}, -7.0f);
      Tensor out = base.slice(0, start, count + start);
      rk::run_uniform_dense(out.data_ptr(), count, kSeed, kOffset, cuda_emulation::Launch{});
      test_support::expect_same_bits(out.to_vector(), cpu_values(count, false),
                                     "uniform, " + std::to_string(count) + " elements from " + std::to_string(start));
    }
  }
  // The grid-stride loop: one CUDA block of 32 threads over 250 Philox blocks.
  std::vector<float> got(1000, -7.0f);
  cuda_emulation::launch(rk::uniform_dense_kernel, dim3(1), dim3(32), got.data(), int64_t{1000}, kSeed, kOffset);
  test_support::expect_same_bits(got, cpu_values(1000, false), "uniform, one small CUDA block");
}

TEST(RandomKernelsEmulated, StridedUniformAndNormalGiveTheCpuBitsInRowMajorOrder) {
  for (bool normal : {false, true}) {
    const std::string what = normal ? "normal" : "uniform";
    // A transposed [37, 29] view: element (i, j) is row-major element i * 29 + j.
    Tensor t = full({29, 37}, -7.0f).t();
    const Tensor* tt[1] = {&t};
    normal ? rk::run_random_strided<true>(make_plan<1>(tt, "test"), kSeed, kOffset, cuda_emulation::Launch{})
           : rk::run_random_strided<false>(make_plan<1>(tt, "test"), kSeed, kOffset, cuda_emulation::Launch{});
    test_support::expect_same_bits(t.contiguous().to_vector(), cpu_values(37 * 29, normal), what + " transposed");
    // Dense but misaligned.
    Tensor m = full({1001}, -7.0f).slice(0, 1, 1001);
    const Tensor* mt[1] = {&m};
    normal ? rk::run_random_strided<true>(make_plan<1>(mt, "test"), kSeed, kOffset, cuda_emulation::Launch{})
           : rk::run_random_strided<false>(make_plan<1>(mt, "test"), kSeed, kOffset, cuda_emulation::Launch{});
    test_support::expect_same_bits(m.to_vector(), cpu_values(1000, normal), what + " misaligned");
  }
}
