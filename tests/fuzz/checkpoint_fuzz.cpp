// Fuzzes the checkpoint reader (optim/checkpoint.h read_checkpoint) on the input as a file.
// Each input is read twice: as it is, and with the header's payload size and CRC32 made to
// match the payload, so that the entry parser behind the checksum is reached too. Only
// qtorch::Error may escape.
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "qtorch/core/error.h"
#include "qtorch/optim/checkpoint.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

void read(const uint8_t* data, size_t size) {
  qtorch_fuzz::MemFile file(data, size);
  try {
    qtorch::optim::CheckpointData c = qtorch::optim::read_checkpoint(file.path());
    for (const auto& [name, t] : c.tensors) (void)t.numel();
  } catch (const qtorch::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  read(data, size);
  // Header: magic (8), version (4), reserved (4), payload size (8), CRC32 (4).
  constexpr size_t kHeader = 28;
  if (size >= kHeader) {
    std::vector<uint8_t> fixed(data, data + size);
    std::memcpy(fixed.data(), "QTORCHCK", 8);
    uint64_t payload = size - kHeader;
    std::memcpy(fixed.data() + 16, &payload, 8);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, fixed.data() + kHeader, static_cast<uInt>(payload));
    uint32_t crc32v = static_cast<uint32_t>(crc);
    std::memcpy(fixed.data() + 24, &crc32v, 4);
    read(fixed.data(), fixed.size());
  }
  return 0;
}
