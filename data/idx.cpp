// IDX reader (through FileBytes, which reads gzip and raw files alike) and writer.
#include "qtorch/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "qtorch/core/atomic_file.h"
#include "qtorch/core/error.h"
#include "qtorch/data/file_bytes.h"

namespace qtorch::data {
namespace {

constexpr uint8_t kUnsignedByte = 0x08;
// Larger than any IDX data set we know of; guards against allocating for a corrupt header.
constexpr int64_t kMaxBytes = int64_t{1} << 34;

}  // namespace

int64_t IdxArray::item_size() const {
  int64_t n = 1;
  for (size_t i = 1; i < dims.size(); ++i)
    QTORCH_CHECK(!__builtin_mul_overflow(n, dims[i], &n),
                 "IdxArray::item_size: the product of the dimensions overflows int64");
  return n;
}

IdxArray read_idx(const std::string& path, int expected_ndim) {
  std::error_code ec;
  QTORCH_CHECK(std::filesystem::is_regular_file(path, ec), "read_idx: {}: {}", path,
               std::filesystem::exists(path, ec) ? "not a regular file" : "no such file");
  FileBytes f(path);

  uint8_t magic[4] = {};
  int64_t got = f.read(magic, 4);
  QTORCH_CHECK(got == 4, "read_idx: {}: truncated: expected a 4-byte magic number, got {} bytes",
               path, got);
  QTORCH_CHECK(magic[0] == 0 && magic[1] == 0,
               "read_idx: {}: bad magic number 0x{:02x}{:02x}{:02x}{:02x}: expected an IDX file "
               "(starting with two zero bytes)",
               path, magic[0], magic[1], magic[2], magic[3]);
  QTORCH_CHECK(magic[2] == kUnsignedByte,
               "read_idx: {}: unsupported element type 0x{:02x}: expected 0x08 (unsigned byte)",
               path, magic[2]);
  int ndim = magic[3];
  QTORCH_CHECK(ndim >= 1, "read_idx: {}: expected at least 1 dimension, got 0", path);
  QTORCH_CHECK(expected_ndim <= 0 || ndim == expected_ndim,
               "read_idx: {}: expected {} dimensions, got {}", path, expected_ndim, ndim);

  std::vector<uint8_t> header(4 * static_cast<size_t>(ndim));
  got = f.read(header.data(), static_cast<int64_t>(header.size()));
  QTORCH_CHECK(got == static_cast<int64_t>(header.size()),
               "read_idx: {}: truncated: expected {} bytes of dimensions, got {}", path,
               header.size(), got);
  IdxArray out;
  // `span` counts zero sizes as 1: it bounds the byte count and every partial product
  // (item_size()), so that a file with no items but huge other dimensions is refused too.
  int64_t span = 1;
  for (int d = 0; d < ndim; ++d) {
    const uint8_t* p = &header[4 * static_cast<size_t>(d)];
    int64_t size = (int64_t{p[0]} << 24) | (int64_t{p[1]} << 16) | (int64_t{p[2]} << 8) | p[3];
    out.dims.push_back(size);
    int64_t factor = std::max<int64_t>(size, 1);
    span = span > kMaxBytes / factor ? kMaxBytes + 1 : span * factor;
  }
  QTORCH_CHECK(span <= kMaxBytes, "read_idx: {}: implausible dimensions: more than {} bytes",
               path, kMaxBytes);
  int64_t bytes = 1;
  for (int64_t size : out.dims) bytes *= size;  // <= span: no overflow

  // The buffer grows with the data actually read (doubling, from 1 MiB), not to the size
  // the header announces: a corrupt or hostile header of a few bytes must not allocate
  // gigabytes before the truncation is noticed.
  got = 0;
  while (got < bytes) {
    int64_t chunk = std::min(bytes - got, std::max<int64_t>(got, int64_t{1} << 20));
    out.data.resize(static_cast<size_t>(got + chunk));
    int64_t n = f.read(out.data.data() + got, chunk);
    got += n;
    if (n < chunk) break;
  }
  out.data.resize(static_cast<size_t>(got));
  QTORCH_CHECK(got == bytes, "read_idx: {}: truncated: expected {} bytes of data, got {}", path,
               bytes, got);
  uint8_t extra[64];
  int64_t left = f.read(extra, sizeof extra);
  QTORCH_CHECK(left == 0,
               "read_idx: {}: {}{} bytes left over after the {} bytes of data the header "
               "announces",
               path, left == static_cast<int64_t>(sizeof extra) ? "at least " : "", left, bytes);
  return out;
}

void write_idx(const std::string& path, const std::vector<int64_t>& dims,
               const std::vector<uint8_t>& data, bool gzip) {
  // Everything is checked, and the file's bytes made, before anything is written; the file
  // then appears whole or not at all (write_file_atomically).
  QTORCH_CHECK(!dims.empty() && dims.size() < 256, "write_idx: expected 1 to 255 dimensions, got {}",
               dims.size());
  std::string content = {0, 0, static_cast<char>(kUnsignedByte), static_cast<char>(dims.size())};
  int64_t n = 1;
  for (int64_t d : dims) {
    QTORCH_CHECK(d >= 0 && d <= 0xffffffffLL, "write_idx: expected dimensions in [0, 2^32), got {}", d);
    n = n == 0 || d <= static_cast<int64_t>(data.size()) / n ? n * d : -1;  // -1: more than the data
    for (int shift = 24; shift >= 0; shift -= 8) content.push_back(static_cast<char>(d >> shift));
  }
  QTORCH_CHECK(n == static_cast<int64_t>(data.size()),
               "write_idx: expected as many data bytes as the dimensions' product, got {} bytes for "
               "dimensions of product {}",
               data.size(), n < 0 ? std::string("above that") : std::to_string(n));
  content.append(data.begin(), data.end());
  if (gzip) {
    z_stream z{};
    QTORCH_CHECK(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK,
                 "write_idx: {}: cannot start gzip compression", path);
    std::string packed(deflateBound(&z, content.size()), '\0');
    z.next_in = reinterpret_cast<Bytef*>(content.data());
    z.avail_in = static_cast<uInt>(content.size());
    z.next_out = reinterpret_cast<Bytef*>(packed.data());
    z.avail_out = static_cast<uInt>(packed.size());
    const bool done = content.size() <= 0xffffffffu && packed.size() <= 0xffffffffu &&
                      deflate(&z, Z_FINISH) == Z_STREAM_END;
    packed.resize(z.total_out);
    deflateEnd(&z);
    QTORCH_CHECK(done, "write_idx: {}: gzip compression of {} bytes failed", path, content.size());
    content = std::move(packed);
  }
  try {
    write_file_atomically(path, content);
  } catch (const std::exception& e) {
    QTORCH_FAIL("write_idx: {}", e.what());
  }
}

}  // namespace qtorch::data
