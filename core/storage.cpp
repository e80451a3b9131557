// Storage allocation through the owning device's backend.
#include "core/storage.h"

#include "core/backend.h"

namespace qtorch {

Storage::Storage(int64_t numel, Device device) : numel_(numel), device_(device) {
  data_ = backend_for(device).allocate(numel > 0 ? numel : 1);
}

Storage::~Storage() {
  if (data_ != nullptr) backend_for(device_).deallocate(data_);
}

}  // namespace qtorch
