// quantize_cuda and its device counters in a build without CUDA: always throw (no CUDA
// tensor can exist in such a build, so nothing reaches them).
#include "qtorch/core/error.h"
#include "qtorch/quant/quantize_cuda.h"

namespace qtorch::quant {

void quantize_cuda(const float*, float*, float*, int64_t, const QuantParams&, uint64_t, uint64_t,
                   unsigned long long*, int, const ElementOps&) {
  QTORCH_FAIL("quantize: got a CUDA tensor, but qtorch was built without CUDA");
}

void quantize_list_cuda(const std::vector<QuantizeListItem>&, uint64_t, unsigned long long*, int) {
  QTORCH_FAIL("quantize: got CUDA tensors, but qtorch was built without CUDA");
}

unsigned long long* alloc_device_counts(int) {
  QTORCH_FAIL("quantize: asked for CUDA counters, but qtorch was built without CUDA");
}

void read_device_counts(const unsigned long long*, int, unsigned long long*) {
  QTORCH_FAIL("quantize: asked for CUDA counters, but qtorch was built without CUDA");
}

void free_device_counts(unsigned long long*) {}  // only null can reach it

CountsPrefetch* alloc_counts_prefetch(int) {
  QTORCH_FAIL("quantize: asked for CUDA counters, but qtorch was built without CUDA");
}

void free_counts_prefetch(CountsPrefetch*) {}  // only null can reach it

void prefetch_device_counts(const unsigned long long*, CountsPrefetch*) {
  QTORCH_FAIL("quantize: asked for CUDA counters, but qtorch was built without CUDA");
}

bool prefetched_counts(const CountsPrefetch*, unsigned long long*) { return false; }

}  // namespace qtorch::quant
