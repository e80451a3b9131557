// DataLoader: shuffled gathering into reusable batch buffers.
#include "data/loader.h"

#include <cstring>

#include "core/error.h"
#include "data/shuffle.h"

namespace qtorch::data {

DataLoader::DataLoader(const Dataset& data, const LoaderOptions& options)
    : data_(data), options_(options) {
  QTORCH_CHECK(options.batch_size >= 1, "DataLoader: expected batch_size >= 1, got {}",
               options.batch_size);
  QTORCH_CHECK(data.images.defined() && data.labels.defined() && data.images.dim() >= 1 &&
                   data.images.size(0) == data.labels.size(0),
               "DataLoader: expected images [N, ...] and labels [N]");
  QTORCH_CHECK(data.images.is_contiguous() && data.labels.is_contiguous() &&
                   data.images.device().is_cpu() && data.labels.device().is_cpu(),
               "DataLoader: expected contiguous CPU tensors");
  reset(0);
}

int64_t DataLoader::num_samples() const {
  int64_t n = data_.size();
  return options_.drop_last ? n / options_.batch_size * options_.batch_size : n;
}

int64_t DataLoader::num_batches() const {
  int64_t b = options_.batch_size;
  return (num_samples() + b - 1) / b;
}

void DataLoader::reset(int64_t epoch) {
  cursor_ = 0;
  batch_index_ = 0;
  if (options_.shuffle)
    order_ = random_permutation(data_.size(), options_.seed, static_cast<uint64_t>(epoch));
}

bool DataLoader::next(Batch& batch) {
  const int64_t end = num_samples();
  if (cursor_ >= end) return false;
  const int64_t n = std::min(options_.batch_size, end - cursor_);
  Tensor images, labels;
  if (order_.empty()) {
    // Consecutive items: views of the data set, no copy at all.
    images = data_.images.narrow(0, cursor_, n);
    labels = data_.labels.narrow(0, cursor_, n);
  } else {
    if (!host_images_.defined()) {
      Shape shape = data_.images.shape();
      shape[0] = options_.batch_size;
      host_images_ = empty(shape);
      host_labels_ = empty({options_.batch_size});
    }
    const int64_t row = data_.images.numel() / std::max<int64_t>(data_.size(), 1);
    const float* src = data_.images.data_ptr();
    const float* src_labels = data_.labels.data_ptr();
    float* dst = host_images_.data_ptr();
    float* dst_labels = host_labels_.data_ptr();
    for (int64_t i = 0; i < n; ++i) {
      int64_t item = order_[static_cast<size_t>(cursor_ + i)];
      std::memcpy(dst + i * row, src + item * row, static_cast<size_t>(row) * sizeof(float));
      dst_labels[i] = src_labels[item];
    }
    images = n == options_.batch_size ? host_images_ : host_images_.narrow(0, 0, n);
    labels = n == options_.batch_size ? host_labels_ : host_labels_.narrow(0, 0, n);
  }
  if (!options_.device.is_cpu()) {
    if (!device_images_.defined()) {
      Shape shape = data_.images.shape();
      shape[0] = options_.batch_size;
      device_images_ = empty(shape, options_.device);
      device_labels_ = empty({options_.batch_size}, options_.device);
    }
    Tensor di = n == options_.batch_size ? device_images_ : device_images_.narrow(0, 0, n);
    Tensor dl = n == options_.batch_size ? device_labels_ : device_labels_.narrow(0, 0, n);
    di.copy_(images);
    dl.copy_(labels);
    images = di;
    labels = dl;
  }
  batch.images = images;
  batch.labels = labels;
  batch.index = batch_index_++;
  batch.size = n;
  cursor_ += n;
  return true;
}

}  // namespace qtorch::data
