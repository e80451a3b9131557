// Definitions for a build without CUDA: no GPU is ever available.
#include "qtorch/core/device.h"

namespace qtorch {

bool cuda_is_available() { return false; }
std::string cuda_unavailable_reason() {
  return "qtorch was built without CUDA support (configure with -DQTORCH_CUDA=ON on a machine with the CUDA Toolkit)";
}

}  // namespace qtorch
