// Mini-batches over a Dataset: seeded reshuffling per epoch, and batches gathered into
// buffers allocated once (or zero-copy views when the order is not shuffled).
#pragma once

#include <cstdint>
#include <vector>

#include "qtorch/core/device.h"
#include "qtorch/core/row_index.h"
#include "qtorch/core/tensor.h"
#include "qtorch/data/mnist.h"

namespace qtorch::data {

struct LoaderOptions {
  int64_t batch_size = 128;
  /// Visit the items in a fresh random order each epoch (random_permutation(n, seed, epoch)).
  bool shuffle = true;
  uint64_t seed = 0;
  /// Skip the last batch when it is smaller than batch_size.
  bool drop_last = false;
  /// Where the batch tensors live. With the data set on the CPU, CUDA batches are gathered
  /// on the host and copied once; with the data set already on this device (Dataset::to)
  /// they are gathered there, in the same order.
  Device device = Device::cpu();
  /// Data-parallel sharding: the epoch is cut into global batches of batch_size * shards
  /// items of the same order, and this loader yields share `shard` (from 0) of each:
  /// items [g * shard / shards, g * (shard + 1) / shards) of a global batch of g items.
  /// So `shards` loaders together see what one loader of the global batch size sees.
  int64_t shard = 0;
  int64_t shards = 1;
};

/// One mini-batch. Its tensors are buffers owned by the loader, overwritten by the next
/// call to DataLoader::next: clone them to keep them longer.
struct Batch {
  Tensor images;       ///< [size, 1, rows, cols]
  Tensor labels;       ///< [size]
  int64_t index = 0;   ///< batch number within the epoch, from 0
  int64_t size = 0;    ///< number of items (0 for a shard of a global batch smaller than the shards)
  int64_t global_size = 0;  ///< items of the global batch (all shards); size without sharding
};

/// Iterates over a data set in mini-batches; the order of epoch e depends only on
/// (seed, e), so training resumed at an epoch boundary sees the same batches.
class DataLoader {
 public:
  /// Keeps a reference to `data` (on the CPU or on options.device), which must outlive the
  /// loader. Throws on an empty data set. A batch_size above the data set's size gives one batch of the whole set.
  DataLoader(const Dataset& data, const LoaderOptions& options);

  /// Batches per epoch (global batches when sharded).
  int64_t num_batches() const;
  /// Items per epoch over all shards (fewer than the data set's size when drop_last drops some).
  int64_t num_samples() const;
  const LoaderOptions& options() const { return options_; }

  /// Starts epoch `epoch` (from 0): reshuffles when shuffling and rewinds.
  void reset(int64_t epoch);
  /// Fills `batch` with the next batch; returns false at the end of the epoch.
  bool next(Batch& batch);

 private:
  const Dataset& data_;
  LoaderOptions options_;
  std::vector<int64_t> order_;  // empty: identity order
  ops::RowIndex device_order_;  // order_ on the data set's device, when batches are gathered there
  int64_t cursor_ = 0, batch_index_ = 0;
  /// Rows of the batch buffers: batch_size, or fewer when the epoch holds fewer items.
  int64_t buffer_rows() const;
  int64_t global_batch() const;
  /// The data set lives on the loader's device, a GPU: batches are gathered there.
  bool gathers_on_device() const;

  Tensor host_images_, host_labels_;      // gather buffers [buffer_rows(), ...]
  Tensor device_images_, device_labels_;  // copies on options_.device when it is not the CPU
};

}  // namespace qtorch::data
