// host_waits in a build without CUDA: the host never waits for a GPU.
#include "qtorch/core/cuda/host_waits.h"

namespace qtorch::cuda {

int64_t host_waits() { return 0; }

}  // namespace qtorch::cuda
