// Row selection: the gather of a shuffled batch from a data set on any device.
#include <limits>

#include "qtorch/core/backend.h"
#include "qtorch/core/error.h"
#include "qtorch/core/float_index.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/row_index.h"
#include "qtorch/core/view.h"

namespace qtorch::ops {

RowIndex::RowIndex(const std::vector<int64_t>& rows, int64_t bound, Device device) : bound_(bound), device_(device) {
  // The index travels to the device as float32, exact for row numbers below 2^24.
  QTORCH_CHECK(bound >= 0 && bound <= kMaxFloatIndex, "take_rows: expected at most 2^24 rows, got {}", bound);
  std::vector<float> index(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    QTORCH_CHECK(rows[i] >= 0 && rows[i] < bound, "take_rows: expected row numbers in [0, {}), got {} at position {}",
                 bound, rows[i], i);
    index[i] = static_cast<float>(rows[i]);
  }
  values_ = Tensor::from_vector(index, {static_cast<int64_t>(index.size())});
  if (!device.is_cpu()) values_ = values_.to(device);
}

RowIndex RowIndex::slice(int64_t first, int64_t count) const {
  QTORCH_CHECK(first >= 0 && count >= 0 && first <= size() - count,
               "RowIndex: expected a slice within [0, {}), got {} rows from {}", size(), count, first);
  RowIndex r = *this;
  r.values_ = narrow(values_, 0, first, count);
  return r;
}

void take_rows_into(const Tensor& x, const RowIndex& rows, const Tensor& out) {
  QTORCH_CHECK(x.defined() && x.dim() >= 1, "take_rows: expected a tensor with at least 1 axis");
  QTORCH_CHECK(rows.bound() == x.size(0) && rows.device() == x.device(),
               "take_rows: expected an index of rows below {} on {}, got one of rows below {} on {}", x.size(0),
               x.device().str(), rows.bound(), rows.device().str());
  Shape shape = x.shape();
  shape[0] = rows.size();
  QTORCH_CHECK(out.shape() == shape && out.is_contiguous() && out.device() == x.device(),
               "take_rows: expected a contiguous out of shape {} on {}, got {} on {}{}", shape_str(shape),
               x.device().str(), shape_str(out.shape()), out.device().str(),
               out.is_contiguous() ? "" : fmt::format(" with strides {}", shape_str(out.strides())));
  if (out.numel() == 0) return;
  out.bump_version();
  // Rows of x's own memory (out aliasing x) are read from a copy: a row written first could
  // be one still to be read.
  backend_for(x.device()).take_rows(x.storage() == out.storage() ? clone(x) : contiguous(x), rows.values(), out);
}

void take_rows_into(const Tensor& x, const std::vector<int64_t>& rows, const Tensor& out) {
  QTORCH_CHECK(x.defined() && x.dim() >= 1, "take_rows: expected a tensor with at least 1 axis");
  take_rows_into(x, RowIndex(rows, x.size(0), x.device()), out);
}

Tensor take_rows(const Tensor& x, const std::vector<int64_t>& rows) {
  QTORCH_CHECK(x.defined() && x.dim() >= 1, "take_rows: expected a tensor with at least 1 axis");
  Shape shape = x.shape();
  shape[0] = static_cast<int64_t>(rows.size());
  Tensor out = empty(shape, x.device());
  take_rows_into(x, rows, out);
  return out;
}

}  // namespace qtorch::ops
