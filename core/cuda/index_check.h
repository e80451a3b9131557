// Asynchronous checks of class indices (gather_rows): a kernel records the first bad row
// on the device, a one-thread kernel copies it into mapped pinned host memory, and the
// host raises qtorch::Error at its next look (the next gather_rows, copy_to_host or
// synchronize), so a training step needs no host synchronisation for the check.
#pragma once

#include "qtorch/core/cuda/cuda_check.h"

namespace qtorch::cuda {

/// Per-device record of the first bad index.
struct IndexErrorSlot {
  unsigned long long* device_row;  // device memory; all ones while no bad row was seen
  volatile unsigned long long* host;  // mapped pinned: [0] row (all ones: none), [1] value bits, [2] cols
  unsigned long long* host_on_device;  // the same memory as seen by kernels
};

/// The slot of `device` (created on first use).
IndexErrorSlot& index_error_slot(int device);

/// Queues the copy of a bad row found by the kernel just queued on `stream` (reading its
/// index value from `index`) into the host record; `cols` is reported with it.
void record_index_error(int device, cudaStream_t stream, const float* index, int64_t cols);

/// Throws qtorch::Error (and clears the record) when a bad index has been recorded on
/// `device`; otherwise returns. Never blocks.
void raise_pending_index_error(int device);

}  // namespace qtorch::cuda
