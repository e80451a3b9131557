// What the fused optimizer updates (optim/sgd_kernel.h, optim/adam_kernel.h) share on the
// host: every parameter with a gradient as contiguous float pointers (a tensor that is not
// contiguous is updated in a contiguous copy and copied back), grouped by device so that a
// GPU gets one call for all its parameters (parameters that share a storage, e.g. views of
// one buffer, are updated in order, one call each); and the CPU's chunked loop. Internal to
// optim/.
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include "qtorch/core/device.h"
#include "qtorch/core/cpu/parallel.h"
#include "qtorch/core/tensor.h"
#include "qtorch/core/view.h"

namespace qtorch::optim {

/// One parameter that has a gradient: its index among the optimizer's parameters, its
/// group's learning rate, and the tensors.
struct PendingParameter {
  size_t index;
  double lr;
  Tensor p, grad;
};

/// Contiguous float pointers for a fused update, kept valid until finish().
class FusedTensors {
 public:
  /// t's elements, or those of a contiguous copy that finish() copies back into t.
  float* writable(Tensor& t) {
    t.bump_version();
    if (t.is_contiguous()) return t.data_ptr();
    copies_.emplace_back(t, ops::contiguous(t));
    return copies_.back().second.data_ptr();
  }
  /// t's elements, contiguous (a copy when t is not).
  const float* readable(const Tensor& t) {
    inputs_.push_back(ops::contiguous(t));
    return inputs_.back().data_ptr();
  }
  void finish() {
    for (auto& [t, copy] : copies_) t.copy_(copy);
    copies_.clear();
    inputs_.clear();
  }

 private:
  std::vector<Tensor> inputs_;
  std::vector<std::pair<Tensor, Tensor>> copies_;
};

/// Runs a fused update over `pending`: prepare(parameter, tensors) -> Item builds one
/// parameter's item; a device's items go to on_cpu(items, c) or on_cuda(items, c, device) in
/// one call.
template <class Item, class Constants, class Prepare>
void run_fused_update(std::vector<PendingParameter>& pending, Prepare prepare, const Constants& c,
                      void (*on_cpu)(const std::vector<Item>&, const Constants&),
                      void (*on_cuda)(const std::vector<Item>&, const Constants&, int)) {
  auto update = [&](const Device& device, const std::vector<Item>& items) {
    if (device.is_cpu())
      on_cpu(items, c);
    else
      on_cuda(items, c, device.index);
  };
  FusedTensors tensors;
  std::vector<const void*> storages;
  for (const PendingParameter& e : pending) storages.push_back(e.p.storage().get());
  std::sort(storages.begin(), storages.end());
  if (std::adjacent_find(storages.begin(), storages.end()) != storages.end()) {
    for (PendingParameter& e : pending) {
      update(e.p.device(), std::vector<Item>{prepare(e, tensors)});
      tensors.finish();
    }
    return;
  }
  std::vector<std::pair<Device, std::vector<Item>>> by_device;
  for (PendingParameter& e : pending) {
    auto it = std::find_if(by_device.begin(), by_device.end(), [&](const auto& d) { return d.first == e.p.device(); });
    if (it == by_device.end()) it = by_device.insert(by_device.end(), {e.p.device(), {}});
    it->second.push_back(prepare(e, tensors));
  }
  for (auto& [device, items] : by_device) update(device, items);
  tensors.finish();
}

/// range(item, begin, end) over chunks of 65536 elements of each item (Item::n elements),
/// the chunks of a large item in parallel (OpenMP): every element is independent.
template <class Item, class Range>
void for_each_cpu_chunk(const std::vector<Item>& items, Range range) {
  constexpr int64_t kChunk = 65536;
  for (const Item& t : items) {
    const int64_t chunks = (t.n + kChunk - 1) / kChunk;
    cpu::parallel_for(chunks, chunks > 1, [&](int64_t k) { range(t, k * kChunk, std::min(t.n, (k + 1) * kChunk)); });
  }
}

}  // namespace qtorch::optim
