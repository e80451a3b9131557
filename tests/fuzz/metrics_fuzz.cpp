// Fuzzes qtrain's metrics-JSON reader (examples/qtrain/metrics.h read_metrics, used by
// --compare) on the input as a file: only std::runtime_error may escape.
#include <cstdint>
#include <stdexcept>

#include "examples/qtrain/metrics.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qtorch_fuzz::MemFile file(data, size);
  try {
    qtrain::RunMetrics m = qtrain::read_metrics(file.path());
    (void)qtrain::to_json(m).dump();
  } catch (const std::runtime_error&) {
  }
  return 0;
}
