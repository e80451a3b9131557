// A list of parameters updated in one launch by a fused optimizer kernel: up to kMax items
// passed by value as kernel parameters, CUDA block b working on chunk b - first_block[i] of
// item i. Internal to optim/cuda.
#pragma once

#include <cstdint>
#include <vector>

#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/error.h"

namespace qtorch::optim {

template <class Item, int kMax>
struct TensorList {
  Item at[kMax];
  uint32_t first_block[kMax];
  int count = 0;
  uint32_t blocks = 0;

  /// The item CUDA block `block` works on (uniform over the block).
  __device__ int item_of(uint32_t block) const {
    int i = 0;
    while (i + 1 < count && block >= first_block[i + 1]) ++i;
    return i;
  }
};

/// Launches launch(list) for consecutive runs of `items`, each run at most kMax items and
/// 2^31 - 1 CUDA blocks of `chunk` elements (Item::n elements each).
template <int kMax, class Item, class Launch>
void for_each_tensor_list(const std::vector<Item>& items, int64_t chunk, Launch launch) {
  constexpr int64_t kMaxBlocks = (int64_t{1} << 31) - 1;
  TensorList<Item, kMax> list;
  auto flush = [&] {
    if (list.count == 0) return;
    launch(list);
    list = TensorList<Item, kMax>{};
  };
  for (const Item& t : items) {
    if (t.n <= 0) continue;
    const int64_t blocks = (t.n + chunk - 1) / chunk;
    QTORCH_CHECK(blocks <= kMaxBlocks, "optimizer (cuda): a parameter of {} elements is too large for one launch", t.n);
    if (list.count == kMax || list.blocks + blocks > kMaxBlocks) flush();
    list.at[list.count] = t;
    list.first_block[list.count] = list.blocks;
    ++list.count;
    list.blocks += static_cast<uint32_t>(blocks);
  }
  flush();
}

}  // namespace qtorch::optim
