// The bytes of a file as a stream: gzip-decompressed when the file is gzip (every member,
// each checked against its CRC-32 and length trailer), as they are otherwise. read_idx
// reads through it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace qtorch::data {

class FileBytes {
 public:
  /// Opens `path`; a file starting with the gzip magic bytes (1f 8b) is decompressed.
  /// Throws qtorch::Error naming the file when it cannot be opened.
  explicit FileBytes(const std::string& path);
  ~FileBytes();
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;

  /// Reads up to n bytes into dst and returns how many: fewer only at the end of the data.
  /// Throws qtorch::Error naming the file for a read error, and in a gzip file for corrupt
  /// compressed data, a checksum or length that does not match, a stream cut short (even
  /// inside its 8-byte trailer), or bytes after the last member that are no gzip member
  /// (zero bytes there are padding, as gzip takes them).
  int64_t read(uint8_t* dst, int64_t n);
  /// Whether the file is gzip-compressed.
  bool is_gzip() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace qtorch::data
