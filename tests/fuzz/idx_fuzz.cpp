// Fuzzes the IDX reader (data/idx.h) on the input as a file, raw or gzip-compressed: only
// qtorch::Error may escape, and what it reads must be consistent with its dimensions.
#include <cstdint>

#include "qtorch/core/error.h"
#include "qtorch/data/idx.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qtorch_fuzz::MemFile file(data, size);
  try {
    qtorch::data::IdxArray a = qtorch::data::read_idx(file.path());
    int64_t n = a.dims.empty() ? 0 : a.dims[0] * a.item_size();
    qtorch_fuzz::require(!a.dims.empty() && static_cast<int64_t>(a.data.size()) == n,
                         "read_idx: data size does not match the dimensions");
  } catch (const qtorch::Error&) {
  }
  return 0;
}
