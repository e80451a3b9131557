// Row selection: the gather of a shuffled batch from a data set on any device.
#include <limits>

#include "qtorch/core/backend.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/core/view.h"

namespace qtorch::ops {

void take_rows_into(const Tensor& x, const std::vector<int64_t>& rows, const Tensor& out) {
  QTORCH_CHECK(x.defined() && x.dim() >= 1, "take_rows: expected a tensor with at least 1 axis");
  const int64_t n = x.size(0);
  // The index travels to the device as float32, exact for row numbers below 2^24.
  QTORCH_CHECK(n <= (int64_t{1} << 24), "take_rows: expected at most 2^24 rows, got {}", n);
  Shape shape = x.shape();
  shape[0] = static_cast<int64_t>(rows.size());
  QTORCH_CHECK(out.shape() == shape && out.is_contiguous() && out.device() == x.device(),
               "take_rows: expected a contiguous out of shape {} on {}, got {} on {}", shape_str(shape),
               x.device().str(), shape_str(out.shape()), out.device().str());
  std::vector<float> index(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    QTORCH_CHECK(rows[i] >= 0 && rows[i] < n, "take_rows: expected row numbers in [0, {}), got {} at position {}", n,
                 rows[i], i);
    index[i] = static_cast<float>(rows[i]);
  }
  if (out.numel() == 0) return;
  Tensor idx = Tensor::from_vector(index, {static_cast<int64_t>(index.size())});
  if (!x.device().is_cpu()) idx = idx.to(x.device());
  backend_for(x.device()).take_rows(contiguous(x), idx, out);
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
