// Runs a row kernel over K same-shaped strided tensors: axes are merged where the
// layout allows, the last axis becomes the row (in blocks of columns when a tensor is
// walked transposed), and rows are split across OpenMP threads.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "qtorch/core/cpu/cpu_backend.h"
#include "qtorch/core/cpu/parallel.h"
#include "qtorch/core/shape.h"
#include "qtorch/core/tensor.h"

namespace qtorch::cpu {

template <size_t K>
struct StridedRows {
  Shape shape;                     // merged shape; the last axis is the row
  std::array<Shape, K> strides;    // merged strides per tensor
  std::array<float*, K> base;      // first element per tensor
};

/// Merges adjacent axes that are contiguous with each other in every tensor.
template <size_t K>
StridedRows<K> merge_axes(const std::array<const Tensor*, K>& ts) {
  StridedRows<K> r;
  const Shape& shape = ts[0]->shape();
  for (size_t k = 0; k < K; ++k) r.base[k] = ts[k]->data_ptr();
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    bool merge = !r.shape.empty();
    for (size_t k = 0; k < K && merge; ++k) {
      merge = r.strides[k].back() == ts[k]->strides()[i] * shape[i];
    }
    if (merge) {
      r.shape.back() *= shape[i];
      for (size_t k = 0; k < K; ++k) r.strides[k].back() = ts[k]->strides()[i];
    } else {
      r.shape.push_back(shape[i]);
      for (size_t k = 0; k < K; ++k) r.strides[k].push_back(ts[k]->strides()[i]);
    }
  }
  if (r.shape.empty()) {
    r.shape.push_back(1);
    for (size_t k = 0; k < K; ++k) r.strides[k].push_back(1);
  }
  return r;
}

/// Whether some tensor walks the last merged axis with a stride > 1 and the one before it
/// with stride 1 (a transposed view): along a row it reads one cache line per element.
template <size_t K>
bool walks_transposed(const StridedRows<K>& r) {
  const size_t d = r.shape.size();
  if (d < 2) return false;
  for (size_t k = 0; k < K; ++k)
    if (r.strides[k][d - 1] > 1 && r.strides[k][d - 2] == 1) return true;
  return false;
}

/// Calls row(n, ptrs, inner_strides) for every row; rows run in parallel when large. Each
/// element is visited once, so the order is free: when a tensor is walked transposed, the
/// last two axes go in blocks of kTileColumns columns, every row of a block in turn, so that
/// the cache lines one row of the block reads serve the next rows too.
template <size_t K, class Row>
void for_each_row(const std::array<const Tensor*, K>& ts, Row&& row) {
  StridedRows<K> r = merge_axes(ts);
  const int64_t d = static_cast<int64_t>(r.shape.size());
  const int64_t n = r.shape[d - 1];
  int64_t rows = 1;
  for (int64_t i = 0; i + 1 < d; ++i) rows *= r.shape[i];
  std::array<int64_t, K> inner;
  for (size_t k = 0; k < K; ++k) inner[k] = r.strides[k][d - 1];

  if (rows * n == 0) return;  // no element (callers skip empty tensors; this keeps rows / block_rows defined)
  if (walks_transposed(r)) {
    constexpr int64_t kTileColumns = 32;
    const int64_t block_rows = r.shape[d - 2], outer = rows / block_rows;
    const int64_t blocks = (n + kTileColumns - 1) / kTileColumns;
    parallel_for(outer * blocks, rows * n > 4 * kParallelGrain, [&](int64_t t) {
      std::array<float*, K> p = r.base;
      int64_t rem = t / blocks;
      for (int64_t i = d - 3; i >= 0; --i) {
        const int64_t c = rem % r.shape[i];
        rem /= r.shape[i];
        for (size_t k = 0; k < K; ++k) p[k] += c * r.strides[k][i];
      }
      const int64_t first = t % blocks * kTileColumns;
      for (size_t k = 0; k < K; ++k) p[k] += first * inner[k];
      for (int64_t j = 0; j < block_rows; ++j) {
        std::array<float*, K> q = p;
        for (size_t k = 0; k < K; ++k) q[k] += j * r.strides[k][d - 2];
        row(std::min(kTileColumns, n - first), q, inner);
      }
    });
    return;
  }

  auto run_rows = [&](int64_t begin, int64_t end) {
    for (int64_t idx = begin; idx < end; ++idx) {
      std::array<float*, K> p = r.base;
      int64_t rem = idx;
      for (int64_t i = d - 2; i >= 0; --i) {
        int64_t c = rem % r.shape[i];
        rem /= r.shape[i];
        for (size_t k = 0; k < K; ++k) p[k] += c * r.strides[k][i];
      }
      row(n, p, inner);
    }
  };
  if (rows == 1) {
    // One long row: split it into chunks so both cores work.
    constexpr int64_t chunk = 1 << 16;
    int64_t chunks = (n + chunk - 1) / chunk;
    parallel_for(chunks, chunks > 1, [&](int64_t c) {
      std::array<float*, K> p = r.base;
      for (size_t k = 0; k < K; ++k) p[k] += c * chunk * inner[k];
      row(std::min(chunk, n - c * chunk), p, inner);
    });
    return;
  }
  int64_t total = rows * n;
  parallel_for(rows, total > 4 * kParallelGrain, [&](int64_t t) { run_rows(t, t + 1); });
}

}  // namespace qtorch::cpu
