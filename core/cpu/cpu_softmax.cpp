// CPU softmax / log-softmax over rows, and the row gather/scatter of the losses.
#include <cmath>
#include <cstring>

#include "qtorch/core/float_index.h"
#include "qtorch/core/cpu/cpu_backend.h"
#include "qtorch/core/cpu/parallel.h"
#include "qtorch/core/error.h"

namespace qtorch::cpu {

void CpuBackend::softmax(const Tensor& x, const Tensor& out, int64_t rows, int64_t cols, bool log) {
  const float* in = x.data_ptr();
  float* o = out.data_ptr();
  parallel_for(rows, rows * cols > kParallelGrain, [&](int64_t r) {
    const float* xr = in + r * cols;
    float* orow = o + r * cols;
    float m = xr[0];
    for (int64_t j = 1; j < cols; ++j) m = std::max(m, xr[j]);
    float s = 0.0f;
    for (int64_t j = 0; j < cols; ++j) {
      float e = std::exp(xr[j] - m);
      orow[j] = e;
      s += e;
    }
    if (log) {
      // (x - max) - log(sum): exact for large x, where x - (max + log(sum)) would round.
      float log_s = std::log(s);
      for (int64_t j = 0; j < cols; ++j) orow[j] = (xr[j] - m) - log_s;
    } else {
      float inv = 1.0f / s;
      for (int64_t j = 0; j < cols; ++j) orow[j] *= inv;
    }
  });
}

namespace {
int64_t checked_index(float v, int64_t cols, const char* op) {
  QTORCH_CHECK(is_class_index(v, cols),
               "{}: expected class indices in [0, {}), got {}", op, cols, v);
  return static_cast<int64_t>(v);
}
}  // namespace

void CpuBackend::gather_rows(const Tensor& x, const Tensor& index, const Tensor& out) {
  int64_t rows = x.size(0), cols = x.size(1);
  const float* in = x.data_ptr();
  const float* idx = index.data_ptr();
  float* o = out.data_ptr();
  for (int64_t r = 0; r < rows; ++r) o[r] = in[r * cols + checked_index(idx[r], cols, "gather_rows")];
}

void CpuBackend::scatter_add_rows(const Tensor& values, const Tensor& index, const Tensor& out) {
  int64_t rows = out.size(0), cols = out.size(1);
  const float* v = values.data_ptr();
  const float* idx = index.data_ptr();
  float* o = out.data_ptr();
  for (int64_t r = 0; r < rows; ++r) o[r * cols + checked_index(idx[r], cols, "scatter_rows")] += v[r];
}

void CpuBackend::take_rows(const Tensor& x, const Tensor& index, const Tensor& out) {
  const int64_t m = out.size(0), row = m > 0 ? out.numel() / m : 0;
  const float* in = x.data_ptr();
  const float* idx = index.data_ptr();
  float* o = out.data_ptr();
  for (int64_t i = 0; i < m; ++i)
    std::memcpy(o + i * row, in + static_cast<int64_t>(idx[i]) * row, static_cast<size_t>(row) * sizeof(float));
}

}  // namespace qtorch::cpu
