// The CUDA backend's row kernels (core/cuda/row_kernels.cuh: take_rows for the device data
// path, gather_rows and scatter_add_rows for cross-entropy) run on the CPU through
// tests/support/cuda_emulation.h, launched by the library's own host code, against the CPU
// backend bit for bit; and a bad index in gather_rows gives NaN and the first bad row.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/qtorch.h"
#include "tests/support/cuda_emulation.h"
#include "tests/support/same_bits.h"
// After the emulation: the kernels see its CUDA keywords.
#include "qtorch/core/cuda/row_kernels.cuh"

using namespace qtorch;
namespace rk = qtorch::cuda::row_kernels;

namespace {

Tensor random_tensor(const Shape& shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  std::vector<float> v(static_cast<size_t>(numel_of(shape)));
  for (float& e : v) e = dist(rng);
  return Tensor::from_vector(v, shape);
}

/// `count` row indices below `rows`, repeats included, as floats.
std::vector<float> row_indices(int64_t count, int64_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> dist(0, rows - 1);
  std::vector<float> v(static_cast<size_t>(count));
  for (float& e : v) e = static_cast<float>(dist(rng));
  return v;
}

}  // namespace

TEST(RowKernelsEmulated, TakeRowsGivesTheCpuRows) {
  // A batch of 128 rows of 784 (Fashion-MNIST) from 1000, and odd sizes: one column; 300 rows
  // of 17, more elements than the grid's first pass.
  struct Case {
    int64_t rows, row, batch;
  };
  uint32_t seed = 1;
  for (const Case& c : {Case{1000, 784, 128}, Case{10, 1, 25}, Case{40, 17, 300}}) {
    const Tensor x = random_tensor({c.rows, c.row}, seed++);
    const std::vector<float> index = row_indices(c.batch, c.rows, seed++);
    Tensor want = empty({c.batch, c.row});
    backend_for(Device::cpu()).take_rows(x, Tensor::from_vector(index, {c.batch}), want);
    std::vector<float> got(static_cast<size_t>(c.batch * c.row), -7.0f);
    rk::run_take_rows(x.data_ptr(), index.data(), got.data(), c.batch, c.row, cuda_emulation::Launch{});
    test_support::expect_same_bits(got, want.to_vector(), "take_rows " + std::to_string(c.batch) + " of " +
                                                               std::to_string(c.rows) + " rows of " +
                                                               std::to_string(c.row));
  }
}

TEST(RowKernelsEmulated, GatherAndScatterAddRowsGiveTheCpuBits) {
  const int64_t rows = 300, cols = 10;
  const Tensor x = random_tensor({rows, cols}, 7);
  const std::vector<float> index = row_indices(rows, cols, 8);  // a class per row
  const Tensor index_t = Tensor::from_vector(index, {rows});
  Backend& cpu = backend_for(Device::cpu());

  Tensor want = empty({rows});
  cpu.gather_rows(x, index_t, want);
  std::vector<float> got(static_cast<size_t>(rows), -7.0f);
  unsigned long long bad = std::numeric_limits<unsigned long long>::max();
  rk::run_gather_rows(x.data_ptr(), index.data(), got.data(), rows, cols, &bad, cuda_emulation::Launch{});
  test_support::expect_same_bits(got, want.to_vector(), "gather_rows");
  EXPECT_EQ(bad, std::numeric_limits<unsigned long long>::max()) << "no row is bad";

  const Tensor values = random_tensor({rows}, 9);
  Tensor sum_want = random_tensor({rows, cols}, 10);  // scatter_add_rows adds into it
  std::vector<float> sum_got = sum_want.to_vector();
  cpu.scatter_add_rows(values, index_t, sum_want);
  rk::run_scatter_add_rows(values.data_ptr(), index.data(), sum_got.data(), rows, cols, cuda_emulation::Launch{});
  test_support::expect_same_bits(sum_got, sum_want.to_vector(), "scatter_add_rows");
}

TEST(RowKernelsEmulated, ABadIndexGivesNaNAndTheFirstBadRow) {
  const int64_t rows = 600, cols = 4;
  const Tensor x = random_tensor({rows, cols}, 11);
  std::vector<float> index = row_indices(rows, cols, 12);
  index[517] = 4.0f;   // one past the end
  index[300] = -1.0f;  // negative
  index[299] = 1.5f;   // not whole
  index[431] = std::nanf("");
  std::vector<float> got(static_cast<size_t>(rows), -7.0f);
  unsigned long long bad = std::numeric_limits<unsigned long long>::max();
  rk::run_gather_rows(x.data_ptr(), index.data(), got.data(), rows, cols, &bad, cuda_emulation::Launch{});
  EXPECT_EQ(bad, 299u);
  const std::vector<float> xv = x.to_vector();
  for (int64_t r = 0; r < rows; ++r) {
    const bool is_bad = r == 517 || r == 300 || r == 299 || r == 431;
    if (is_bad) {
      EXPECT_TRUE(std::isnan(got[static_cast<size_t>(r)])) << "row " << r;
    } else {
      EXPECT_EQ(got[static_cast<size_t>(r)], xv[static_cast<size_t>(r * cols + static_cast<int64_t>(index[static_cast<size_t>(r)]))])
          << "row " << r;
    }
  }
  // scatter_add_rows skips the bad rows (their forward gather has already reported them).
  std::vector<float> sum(static_cast<size_t>(rows * cols), 0.0f);
  const std::vector<float> ones(static_cast<size_t>(rows), 1.0f);
  rk::run_scatter_add_rows(ones.data(), index.data(), sum.data(), rows, cols, cuda_emulation::Launch{});
  for (int64_t r : {299, 300, 431, 517})
    for (int64_t k = 0; k < cols; ++k) EXPECT_EQ(sum[static_cast<size_t>(r * cols + k)], 0.0f) << "row " << r;
  EXPECT_EQ(sum[0 * cols + static_cast<int64_t>(index[0])], 1.0f);
}
