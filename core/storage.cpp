// Storage allocation through the owning device's backend.
#include "qtorch/core/storage.h"

#include <cstddef>
#include <limits>
#include <new>

#include "qtorch/core/backend.h"
#include "qtorch/core/error.h"

namespace qtorch {

Storage::Storage(int64_t numel, Device device) : numel_(numel), device_(device) {
  // Backends round sizes up to 2 MiB pages: stay clear of size_t overflow there.
  constexpr int64_t kMaxNumel =
      (std::numeric_limits<std::ptrdiff_t>::max() / static_cast<int64_t>(sizeof(float))) >> 1;
  QTORCH_CHECK(numel >= 0 && numel <= kMaxNumel,
               "Storage: expected 0 to {} floats, got {} (more than {} can address)", kMaxNumel,
               numel, device.str());
  try {
    data_ = backend_for(device).allocate(numel > 0 ? numel : 1, device);
  } catch (const std::bad_alloc&) {
    QTORCH_FAIL("Storage: out of memory: could not allocate {} floats ({:.2f} GiB) on {}", numel,
                static_cast<double>(numel) * sizeof(float) / (1 << 30), device.str());
  }
}

Storage::~Storage() {
  if (data_ != nullptr) backend_for(device_).deallocate(data_);
}

}  // namespace qtorch
