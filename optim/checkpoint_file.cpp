// The checkpoint file format and its atomic writer / verifying reader.
//
// Layout (little-endian):
//   header:  8 bytes magic "QTORCHCK", u32 version, u32 reserved (0),
//            u64 payload size, u32 CRC32 of the payload
//   payload: u32 entry count, then entries: u8 kind, u32 name length, name bytes, and
//            kind 1 (tensor): u32 ndim, i64 dims[ndim], f32 data[numel]
//            kind 2 (f64):    8 bytes
//            kind 3 (i64):    8 bytes
//            kind 4 (text):   u32 length, bytes (format version 2 on)
// Version 2 added kind 4; version 1 files are still read.
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "qtorch/core/atomic_file.h"
#include "qtorch/core/error.h"
#include "qtorch/optim/checkpoint.h"

namespace qtorch::optim {

static_assert(std::endian::native == std::endian::little,
              "checkpoint: the file format is written in host order, which must be little-endian");

namespace {

constexpr char kMagic[8] = {'Q', 'T', 'O', 'R', 'C', 'H', 'C', 'K'};
constexpr uint32_t kVersion = 2;
constexpr uint32_t kOldestVersion = 1;
constexpr size_t kHeaderSize = 8 + 4 + 4 + 8 + 4;
constexpr uint8_t kTensor = 1, kF64 = 2, kI64 = 3, kText = 4;
constexpr uint32_t kMaxDims = 16;

class Writer {
 public:
  template <class T>
  void put(const T& v) {
    const char* p = reinterpret_cast<const char*>(&v);
    bytes.insert(bytes.end(), p, p + sizeof(T));
  }
  void put_bytes(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    bytes.insert(bytes.end(), p, p + n);
  }
  void put_name(uint8_t kind, const std::string& name) {
    put(kind);
    put(static_cast<uint32_t>(name.size()));
    put_bytes(name.data(), name.size());
  }
  std::vector<char> bytes;
};

class Reader {
 public:
  Reader(const char* data, size_t size, const std::string& path) : p_(data), left_(size), path_(path) {}
  template <class T>
  T get() {
    T v;
    take(&v, sizeof(T));
    return v;
  }
  void take(void* out, size_t n) {
    QTORCH_CHECK(n <= left_, "load_checkpoint: '{}' is corrupt: expected {} more bytes, got {}",
                 path_, n, left_);
    if (n == 0) return;  // an empty tensor's buffer may be null, and memcpy(null, ..., 0) is undefined
    std::memcpy(out, p_, n);
    p_ += n;
    left_ -= n;
  }
  size_t left() const { return left_; }

 private:
  const char* p_;
  size_t left_;
  const std::string& path_;
};

uint32_t crc_of(const char* data, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths; feed large payloads in chunks.
  while (n > 0) {
    uInt chunk = static_cast<uInt>(n > (1u << 30) ? (1u << 30) : n);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
    data += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

void write_checkpoint(const std::string& path, const CheckpointData& data) {
  Writer payload;
  payload.put(static_cast<uint32_t>(data.tensors.size() + data.scalars.size() + data.integers.size() +
                                    data.texts.size()));
  for (const auto& [name, t] : data.tensors) {
    QTORCH_CHECK(t.defined(), "save_checkpoint: expected a defined tensor for '{}'", name);
    payload.put_name(kTensor, name);
    payload.put(static_cast<uint32_t>(t.dim()));
    for (int64_t d : t.shape()) payload.put(d);
    std::vector<float> values = t.to_vector();
    payload.put_bytes(values.data(), values.size() * sizeof(float));
  }
  for (const auto& [name, v] : data.scalars) {
    payload.put_name(kF64, name);
    payload.put(v);
  }
  for (const auto& [name, v] : data.integers) {
    payload.put_name(kI64, name);
    payload.put(v);
  }
  for (const auto& [name, v] : data.texts) {
    payload.put_name(kText, name);
    payload.put(static_cast<uint32_t>(v.size()));
    payload.put_bytes(v.data(), v.size());
  }
  Writer file;
  file.put_bytes(kMagic, sizeof(kMagic));
  file.put(kVersion);
  file.put(static_cast<uint32_t>(0));
  file.put(static_cast<uint64_t>(payload.bytes.size()));
  file.put(crc_of(payload.bytes.data(), payload.bytes.size()));

  std::string content(file.bytes.begin(), file.bytes.end());
  content.append(payload.bytes.begin(), payload.bytes.end());
  try {
    write_file_atomically(path, content);
  } catch (const std::runtime_error& e) {
    QTORCH_FAIL("save_checkpoint: {}", e.what());
  }
}

CheckpointData read_checkpoint(const std::string& path) {
  std::error_code ec;
  QTORCH_CHECK(!std::filesystem::is_directory(path, ec),
               "load_checkpoint: expected a checkpoint file '{}', got a folder", path);
  std::ifstream in(path, std::ios::binary);
  QTORCH_CHECK(in.good(), "load_checkpoint: expected a readable file '{}', got none", path);
  std::vector<char> bytes;
  try {
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception& e) {
    QTORCH_FAIL("load_checkpoint: cannot read '{}': {}", path, e.what());
  }

  size_t magic_len = bytes.size() < sizeof(kMagic) ? bytes.size() : sizeof(kMagic);
  QTORCH_CHECK(magic_len == 0 || std::memcmp(bytes.data(), kMagic, magic_len) == 0,
               "load_checkpoint: expected a qtorch checkpoint (magic QTORCHCK) in '{}', got a "
               "foreign file",
               path);
  QTORCH_CHECK(bytes.size() >= kHeaderSize,
               "load_checkpoint: '{}' is truncated: expected a {}-byte header, got {} bytes", path,
               kHeaderSize, bytes.size());
  Reader header(bytes.data() + sizeof(kMagic), kHeaderSize - sizeof(kMagic), path);
  uint32_t version = header.get<uint32_t>();
  header.get<uint32_t>();
  uint64_t size = header.get<uint64_t>();
  uint32_t crc = header.get<uint32_t>();
  QTORCH_CHECK(version >= kOldestVersion && version <= kVersion,
               "load_checkpoint: expected format version {} to {} in '{}', got {}", kOldestVersion, kVersion,
               path, version);
  QTORCH_CHECK(bytes.size() - kHeaderSize == size,
               "load_checkpoint: '{}' is truncated or padded: expected a payload of {} bytes, got {}",
               path, size, bytes.size() - kHeaderSize);
  const char* payload = bytes.data() + kHeaderSize;
  QTORCH_CHECK(crc_of(payload, size) == crc,
               "load_checkpoint: '{}' is corrupt: expected checksum {:08x}, got {:08x}", path, crc,
               crc_of(payload, size));

  CheckpointData data;
  Reader r(payload, size, path);
  uint32_t count = r.get<uint32_t>();
  std::set<std::string> seen;
  for (uint32_t e = 0; e < count; ++e) {
    uint8_t kind = r.get<uint8_t>();
    uint32_t len = r.get<uint32_t>();
    QTORCH_CHECK(len <= r.left(), "load_checkpoint: '{}' is corrupt: a name of {} bytes overruns",
                 path, len);
    std::string name(len, '\0');
    r.take(name.data(), len);
    QTORCH_CHECK(seen.insert(name).second, "load_checkpoint: '{}' is corrupt: entry '{}' appears twice", path, name);
    if (kind == kTensor) {
      uint32_t ndim = r.get<uint32_t>();
      QTORCH_CHECK(ndim <= kMaxDims, "load_checkpoint: '{}' is corrupt: tensor '{}' has {} dims",
                   path, name, ndim);
      Shape shape(ndim);
      uint64_t numel = 1;
      for (auto& d : shape) {
        d = r.get<int64_t>();
        QTORCH_CHECK(d >= 0 && (d == 0 || numel <= r.left() / static_cast<uint64_t>(d)),
                     "load_checkpoint: '{}' is corrupt: tensor '{}' has a bad size {}", path, name, d);
        numel *= static_cast<uint64_t>(d);
      }
      QTORCH_CHECK(numel * sizeof(float) <= r.left(),
                   "load_checkpoint: '{}' is corrupt: tensor '{}' overruns the file", path, name);
      std::vector<float> values(numel);
      r.take(values.data(), numel * sizeof(float));
      data.tensors.insert(name, Tensor::from_vector(values, shape));
    } else if (kind == kF64) {
      data.scalars[name] = r.get<double>();
    } else if (kind == kI64) {
      data.integers[name] = r.get<int64_t>();
    } else if (kind == kText && version >= 2) {
      uint32_t size = r.get<uint32_t>();
      QTORCH_CHECK(size <= r.left(), "load_checkpoint: '{}' is corrupt: text '{}' of {} bytes overruns", path,
                   name, size);
      std::string text(size, '\0');
      r.take(text.data(), size);
      data.texts[name] = text;
    } else {
      QTORCH_FAIL("load_checkpoint: '{}' is corrupt: expected an entry kind 1-{}, got {}", path,
                  version >= 2 ? 4 : 3, kind);
    }
  }
  QTORCH_CHECK(r.left() == 0, "load_checkpoint: '{}' is corrupt: {} bytes after the last entry",
               path, r.left());
  return data;
}

}  // namespace qtorch::optim
