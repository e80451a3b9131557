// Definitions for a build without CUDA: no GPU is ever available.
#include "qtorch/core/device.h"

namespace qtorch {

bool cuda_is_available() { return false; }

}  // namespace qtorch
