// The GPU ops that index rows by a float tensor (row_kernels.cuh): take_rows, out[i, :] =
// x[index[i], :], the gather of a shuffled batch from a data set that lives on the device (the
// index is checked on the host by ops::take_rows); gather_rows and scatter_add_rows,
// out[r] = x[r, index[r]] and its adjoint, for cross-entropy (a bad index is reported
// asynchronously, see index_check.h).
#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/context.h"
#include "qtorch/core/cuda/cuda_backend.h"
#include "qtorch/core/cuda/index_check.h"
#include "qtorch/core/cuda/queued_launch.cuh"
#include "qtorch/core/cuda/row_kernels.cuh"

namespace qtorch::cuda {

void CudaBackend::take_rows(const Tensor& x, const Tensor& index, const Tensor& out) {
  QTORCH_CHECK(x.is_contiguous() && index.is_contiguous() && out.is_contiguous(),
               "take_rows: expected contiguous x, index and out");
  const int64_t m = out.size(0), row = m > 0 ? out.numel() / m : 0;
  if (m == 0 || row == 0) return;
  DeviceGuard guard(x);
  row_kernels::run_take_rows(x.data_ptr(), index.data_ptr(), out.data_ptr(), m, row, QueuedLaunch{guard.stream()});
}


void CudaBackend::gather_rows(const Tensor& x, const Tensor& index, const Tensor& out) {
  QTORCH_CHECK(x.is_contiguous() && index.is_contiguous() && out.is_contiguous() && x.dim() == 2,
               "gather_rows: expected contiguous x [rows, cols], index and out");
  int64_t rows = x.size(0), cols = x.size(1);
  QTORCH_CHECK(index.numel() == rows && out.numel() == rows,
               "gather_rows: expected index and out of {} elements, got {} and {}", rows,
               index.numel(), out.numel());
  if (rows == 0) return;
  DeviceGuard guard(x);
  raise_pending_index_error(guard.device());
  // A bad index is reported asynchronously (index_check.h): waiting for the GPU here
  // would put a host synchronisation into every training step.
  IndexErrorSlot& slot = index_error_slot(guard.device());
  row_kernels::run_gather_rows(x.data_ptr(), index.data_ptr(), out.data_ptr(), rows, cols, slot.device_row,
                               QueuedLaunch{guard.stream()});
  record_index_error(guard.device(), guard.stream(), index.data_ptr(), cols);
}

void CudaBackend::scatter_add_rows(const Tensor& values, const Tensor& index, const Tensor& out) {
  QTORCH_CHECK(values.is_contiguous() && index.is_contiguous() && out.is_contiguous() &&
                   out.dim() == 2,
               "scatter_add_rows: expected contiguous values, index and out [rows, cols]");
  int64_t rows = out.size(0), cols = out.size(1);
  QTORCH_CHECK(index.numel() == rows && values.numel() == rows,
               "scatter_add_rows: expected index and values of {} elements, got {} and {}", rows,
               index.numel(), values.numel());
  if (rows == 0) return;
  DeviceGuard guard(out);
  row_kernels::run_scatter_add_rows(values.data_ptr(), index.data_ptr(), out.data_ptr(), rows, cols,
                                    QueuedLaunch{guard.stream()});
}

}  // namespace qtorch::cuda
