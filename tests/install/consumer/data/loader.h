// The consumer's own data/loader.h: qtorch's headers must never pick it up.
#pragma once

namespace consumer {
inline int batches(int n, int batch) { return (n + batch - 1) / batch; }
}  // namespace consumer
