// The launches of the fused optimizer updates: a list of up to kMax parameters passed by
// value as kernel parameters, CUDA block b working on chunk b - first_block[i] of item i,
// each element by the update's own functor (optim/cuda/updates.cuh). Internal to optim/cuda;
// plain C++ apart from the CUDA keywords that tests/support/cuda_emulation.h provides
// (tests/optim/fused_update_emulated_test.cpp runs it on the CPU).
#pragma once

#include <cstdint>
#include <vector>

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

constexpr int kListThreads = 256;
constexpr int64_t kListChunk = 16 * kListThreads;  // elements per CUDA block

/// element(item, e) for the elements of the chunk of CUDA block blockIdx.x.
template <class Item, int kMax, class Element>
__global__ void __launch_bounds__(kListThreads) tensor_list_kernel(TensorList<Item, kMax> list, Element element) {
  const int i = list.item_of(blockIdx.x);
  const Item t = list.at[i];
  const int64_t begin = static_cast<int64_t>(blockIdx.x - list.first_block[i]) * kListChunk;
  const int64_t end = begin + kListChunk < t.n ? begin + kListChunk : t.n;
  for (int64_t e = begin + threadIdx.x; e < end; e += kListThreads) element(t, e);
}

/// element(item, e) for every element e of every item (Item::n elements each), in as few
/// launches as kMax items per launch and 2^31 - 1 CUDA blocks allow, each run with
/// launch(kernel, grid, threads, args...) (cuda::QueuedLaunch in the library).
template <int kMax, class Item, class Element, class Launch>
void for_each_element(const std::vector<Item>& items, const Element& element, Launch launch) {
  constexpr int64_t kMaxBlocks = (int64_t{1} << 31) - 1;
  TensorList<Item, kMax> list;
  auto flush = [&] {
    if (list.count == 0) return;
    launch(tensor_list_kernel<Item, kMax, Element>, dim3(list.blocks), dim3(kListThreads), list, element);
    list = TensorList<Item, kMax>{};
  };
  for (const Item& t : items) {
    if (t.n <= 0) continue;
    const int64_t blocks = (t.n + kListChunk - 1) / kListChunk;
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
