// Row numbers for gathers (ops::take_rows_into), checked once against the row count of the
// tensors they will index and kept on a device as float32 (exact below 2^24 rows). A data
// loader uploads an epoch's shuffled order once and gathers each batch through a slice of
// it: no check, allocation or copy per batch.
#pragma once

#include <cstdint>
#include <vector>

#include "qtorch/core/device.h"
#include "qtorch/core/tensor.h"

namespace qtorch::ops {

class RowIndex {
 public:
  RowIndex() = default;
  /// Throws naming the first row outside [0, bound), or a bound past 2^24.
  RowIndex(const std::vector<int64_t>& rows, int64_t bound, Device device);

  /// Rows [first, first + count) of this index (a view, no copy); throws when out of range.
  RowIndex slice(int64_t first, int64_t count) const;

  int64_t size() const { return values_.defined() ? values_.numel() : 0; }
  /// The row count every row number is below.
  int64_t bound() const { return bound_; }
  Device device() const { return device_; }
  /// The row numbers as float32, [size()], contiguous, on device().
  const Tensor& values() const { return values_; }

 private:
  Tensor values_;
  int64_t bound_ = 0;
  Device device_ = Device::cpu();
};

}  // namespace qtorch::ops
