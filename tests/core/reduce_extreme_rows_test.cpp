// Max and min over a contiguous row (the CPU backend's row path) against the definition,
// written out one element at a time: the row's first NaN if it holds one, else the first of
// the values equal to the extreme, so that +0 and -0 are told apart. Rows of every length
// around the 16-lane blocks, with NaNs (payloads told apart), zeros of both signs, infinities
// and ties; and the same bits as the strided path (a column of a transposed copy).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "qtorch/core/backend.h"
#include "qtorch/qtorch.h"

namespace {

using namespace qtorch;

uint32_t bits_of(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

float nan_with_payload(uint32_t payload) {
  const uint32_t b = 0x7fc00000u | (payload & 0x3fffffu);
  float v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

float reference(const std::vector<float>& row, bool is_max) {
  float best = row[0];
  if (std::isnan(best)) return best;
  for (size_t i = 1; i < row.size(); ++i) {
    const float v = row[i];
    if (std::isnan(v)) return v;
    if (is_max ? v > best : v < best) best = v;
  }
  return best;
}

std::vector<float> reduce_rows(ReduceOp op, const std::vector<float>& x, int64_t rows, int64_t n) {
  Tensor out = empty({rows});
  backend_for(Device::cpu()).reduce(op, Tensor::from_vector(x, {rows, n}), rows, n, 1, out);
  return out.to_vector();
}

std::vector<float> reduce_columns(ReduceOp op, const std::vector<float>& x, int64_t rows, int64_t n) {
  std::vector<float> t(x.size());  // [n, rows]: reduced over its first axis, inner = rows
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i) t[static_cast<size_t>(i * rows + r)] = x[static_cast<size_t>(r * n + i)];
  Tensor out = empty({rows});
  backend_for(Device::cpu()).reduce(op, Tensor::from_vector(t, {1, n, rows}), 1, n, rows, out);
  return out.to_vector();
}

TEST(ReduceExtremeRows, FirstNaNElseFirstOfTheExtremeAtEveryLength) {
  std::mt19937 gen(5);
  std::uniform_int_distribution<int> kind(0, 19);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const float inf = std::numeric_limits<float>::infinity();
  int nan_rows = 0, zero_rows = 0;
  for (int64_t n : {1, 2, 15, 16, 17, 31, 32, 33, 100, 1000, 1027}) {
    const int64_t rows = 24;
    std::vector<float> x(static_cast<size_t>(rows * n));
    for (int64_t r = 0; r < rows; ++r) {
      const int mode = static_cast<int>(r % 6);  // plain, NaNs, zeros only below, ties, infinities, all zeros
      for (int64_t i = 0; i < n; ++i) {
        float v = std::round(normal(gen) * 4.0f) / 4.0f;  // coarse: ties are common
        const int k = kind(gen);
        if (mode == 1 && k == 0) v = nan_with_payload(static_cast<uint32_t>(r * 1000 + i));
        if (mode == 2) v = k < 6 ? (k % 2 ? 0.0f : -0.0f) : -std::fabs(v) - 1.0f;  // max is a zero
        if (mode == 3) v = static_cast<float>(k % 3);
        if (mode == 4 && k < 2) v = k ? inf : -inf;
        if (mode == 5) v = k % 2 ? 0.0f : -0.0f;
        x[static_cast<size_t>(r * n + i)] = v;
      }
    }
    for (bool is_max : {true, false}) {
      const ReduceOp op = is_max ? ReduceOp::Max : ReduceOp::Min;
      const std::vector<float> got = reduce_rows(op, x, rows, n), strided = reduce_columns(op, x, rows, n);
      for (int64_t r = 0; r < rows; ++r) {
        const std::vector<float> row(x.begin() + r * n, x.begin() + (r + 1) * n);
        const float want = reference(row, is_max);
        nan_rows += std::isnan(want);
        zero_rows += want == 0.0f;
        const std::string what = std::string(is_max ? "max" : "min") + ", n " + std::to_string(n) + ", row " +
                                 std::to_string(r);
        EXPECT_EQ(bits_of(got[static_cast<size_t>(r)]), bits_of(want)) << what;
        EXPECT_EQ(bits_of(strided[static_cast<size_t>(r)]), bits_of(want)) << what << " (strided path)";
      }
    }
  }
  EXPECT_GT(nan_rows, 10);
  EXPECT_GT(zero_rows, 10);
}

}  // namespace
