// Reading IDX files (the MNIST container format), gzip-compressed or raw, with checks of
// the magic number, dimensions, size and truncation that name the file and the problem.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qtorch::data {

/// The contents of one IDX file of unsigned bytes: its dimensions and its elements in
/// row-major order.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;

  /// Elements per item (the product of all dimensions but the first); throws qtorch::Error
  /// when it overflows int64 (never for what read_idx returns: it refuses such files).
  int64_t item_size() const;
};

/// Reads an IDX file of unsigned bytes (type code 0x08). gzip-compressed and raw files are
/// both accepted (zlib tells them apart). When `expected_ndim` is positive the file must
/// have that many dimensions. Throws qtorch::Error naming the file and the problem: missing
/// file, bad magic number, unsupported element type, wrong number of dimensions, a
/// truncated file, or bytes left over after the data; in a gzip file also corrupt data, a
/// checksum or length that does not match, a stream cut short (even inside its trailer)
/// and bytes after the last member that start no other member (data/file_bytes.h).
IdxArray read_idx(const std::string& path, int expected_ndim = -1);

/// Writes an IDX file of unsigned bytes (raw, or gzip-compressed when `gzip`); for tests
/// and for making small data sets.
void write_idx(const std::string& path, const std::vector<int64_t>& dims,
               const std::vector<uint8_t>& data, bool gzip);

}  // namespace qtorch::data
