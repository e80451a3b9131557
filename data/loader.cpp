// DataLoader: shuffled gathering into reusable batch buffers.
#include "qtorch/data/loader.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "qtorch/core/cpu/parallel.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/row_index.h"
#include "qtorch/data/shuffle.h"

namespace qtorch::data {

DataLoader::DataLoader(const Dataset& data, const LoaderOptions& options)
    : data_(data), options_(options) {
  QTORCH_CHECK(options.batch_size >= 1, "DataLoader: expected batch_size >= 1, got {}",
               options.batch_size);
  QTORCH_CHECK(options.shards >= 1 && options.shard >= 0 && options.shard < options.shards,
               "DataLoader: expected shards >= 1 and shard in [0, shards), got shard {} of {}", options.shard,
               options.shards);
  QTORCH_CHECK(options.batch_size <= std::numeric_limits<int64_t>::max() / options.shards,
               "DataLoader: batch_size {} times {} shards overflows", options.batch_size, options.shards);
  QTORCH_CHECK(data.images.defined() && data.labels.defined(),
               "DataLoader: expected a data set with image and label tensors, got undefined {}",
               data.images.defined() ? "labels" : "images");
  QTORCH_CHECK(data.images.dim() >= 1 && data.labels.dim() == 1 &&
                   data.images.size(0) == data.labels.size(0),
               "DataLoader: expected images [N, ...] and labels [N], got images {} and labels {}",
               shape_str(data.images.shape()), shape_str(data.labels.shape()));
  QTORCH_CHECK(data.size() >= 1, "DataLoader: expected a data set of at least 1 item, got 0");
  QTORCH_CHECK(data.images.device() == data.labels.device() &&
                   (data.images.device().is_cpu() || data.images.device() == options.device),
               "DataLoader: expected the data set on the CPU or on the loader's device {}, got images on {} and "
               "labels on {}",
               options.device.str(), data.images.device().str(), data.labels.device().str());
  QTORCH_CHECK(data.images.is_contiguous() && data.labels.is_contiguous(),
               "DataLoader: expected contiguous image and label tensors, got strides {} and {}",
               shape_str(data.images.strides()), shape_str(data.labels.strides()));
  reset(0);
}

int64_t DataLoader::global_batch() const { return options_.batch_size * options_.shards; }

int64_t DataLoader::num_samples() const {
  int64_t n = data_.size();
  return options_.drop_last ? n / global_batch() * global_batch() : n;
}

int64_t DataLoader::num_batches() const {
  const int64_t n = num_samples(), b = global_batch();
  return n / b + (n % b != 0 ? 1 : 0);  // not (n + b - 1) / b: that overflows for huge b
}

void DataLoader::reset(int64_t epoch) {
  cursor_ = 0;
  batch_index_ = 0;
  if (options_.shuffle) {
    order_ = random_permutation(data_.size(), options_.seed, static_cast<uint64_t>(epoch));
    // Gathered on a GPU: the epoch's order goes there once, each batch takes a slice.
    if (gathers_on_device()) device_order_ = ops::RowIndex(order_, data_.size(), options_.device);
  }
}

bool DataLoader::gathers_on_device() const {
  return data_.images.device() == options_.device && !options_.device.is_cpu();
}

int64_t DataLoader::buffer_rows() const { return std::min(options_.batch_size, num_samples()); }

bool DataLoader::next(Batch& batch) {
  const int64_t end = num_samples();
  if (cursor_ >= end) return false;
  const int64_t global = std::min(global_batch(), end - cursor_);
  const int64_t first = cursor_ + global * options_.shard / options_.shards;
  const int64_t n = cursor_ + global * (options_.shard + 1) / options_.shards - first;
  Tensor images, labels;
  // A data set already on the loader's device: batches are gathered there.
  const bool resident = data_.images.device() == options_.device;
  if (order_.empty()) {
    // Consecutive items: views of the data set, no copy at all.
    images = data_.images.narrow(0, first, n);
    labels = data_.labels.narrow(0, first, n);
  } else if (gathers_on_device()) {
    if (!device_images_.defined()) {
      Shape shape = data_.images.shape();
      shape[0] = buffer_rows();
      device_images_ = empty(shape, options_.device);
      device_labels_ = empty({buffer_rows()}, options_.device);
    }
    const ops::RowIndex rows = device_order_.slice(first, n);
    images = n == buffer_rows() ? device_images_ : device_images_.narrow(0, 0, n);
    labels = n == buffer_rows() ? device_labels_ : device_labels_.narrow(0, 0, n);
    ops::take_rows_into(data_.images, rows, images);
    ops::take_rows_into(data_.labels, rows, labels);
  } else {
    if (!host_images_.defined()) {
      Shape shape = data_.images.shape();
      shape[0] = buffer_rows();
      host_images_ = empty(shape);
      host_labels_ = empty({buffer_rows()});
    }
    const int64_t row = data_.images.numel() / std::max<int64_t>(data_.size(), 1);
    const float* src = data_.images.data_ptr();
    const float* src_labels = data_.labels.data_ptr();
    float* dst = host_images_.data_ptr();
    float* dst_labels = host_labels_.data_ptr();
    // Rows scattered over the data set: mostly cache misses, which two threads overlap.
    qtorch::cpu::parallel_for(n, n * row >= (int64_t{1} << 15), [&](int64_t i) {
      const int64_t item = order_[static_cast<size_t>(first + i)];
      std::memcpy(dst + i * row, src + item * row, static_cast<size_t>(row) * sizeof(float));
      dst_labels[i] = src_labels[item];
    });
    images = n == buffer_rows() ? host_images_ : host_images_.narrow(0, 0, n);
    labels = n == buffer_rows() ? host_labels_ : host_labels_.narrow(0, 0, n);
  }
  if (!options_.device.is_cpu() && !resident) {
    if (!device_images_.defined()) {
      Shape shape = data_.images.shape();
      shape[0] = buffer_rows();
      device_images_ = empty(shape, options_.device);
      device_labels_ = empty({buffer_rows()}, options_.device);
    }
    Tensor di = n == buffer_rows() ? device_images_ : device_images_.narrow(0, 0, n);
    Tensor dl = n == buffer_rows() ? device_labels_ : device_labels_.narrow(0, 0, n);
    di.copy_(images);
    dl.copy_(labels);
    images = di;
    labels = dl;
  }
  batch.images = images;
  batch.labels = labels;
  batch.index = batch_index_++;
  batch.size = n;
  batch.global_size = global;
  cursor_ += global;
  return true;
}

}  // namespace qtorch::data
