// How often qtorch has made the host wait for a GPU: every copy to the host, every
// synchronize() and every StatsCounter read waits once. Tests use it to check that a
// training step waits at most once. No CUDA types here; a build without CUDA counts 0.
#pragma once

#include <cstdint>

namespace qtorch::cuda {

/// Host waits so far, over all devices and threads.
int64_t host_waits();

}  // namespace qtorch::cuda
