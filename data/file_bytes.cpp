// FileBytes: plain reads, or zlib's inflate over the gzip members of a file (RFC 1952) with
// the end of each member required. (zlib's gzread took a stream that stops inside its
// trailer for a whole one when a read ended exactly where the file did, so a large file cut
// short by a few bytes was read without its checksum.)
#include "qtorch/data/file_bytes.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <vector>

#include "qtorch/core/error.h"

namespace qtorch::data {

struct FileBytes::State {
  std::string path;
  std::FILE* file = nullptr;
  bool file_ended = false;
  std::vector<uint8_t> input = std::vector<uint8_t>(size_t{1} << 17);
  z_stream z{};  // next_in/avail_in: the unread part of `input`, in both modes
  bool gzip = false;
  bool inflating = false;     // inflateInit2 succeeded (inflateEnd is owed)
  bool member_ended = false;  // the current member's trailer was read and matched

  ~State() {
    if (inflating) inflateEnd(&z);
    if (file) std::fclose(file);
  }

  [[noreturn]] void fail(const std::string& problem) const { QTORCH_FAIL("read_idx: {}: {}", path, problem); }

  // Makes at least k unread input bytes available, as far as the file holds them.
  void want_input(size_t k) {
    if (z.avail_in >= k || file_ended) return;
    std::memmove(input.data(), z.next_in, z.avail_in);
    size_t have = z.avail_in;
    while (have < k && !file_ended) {
      const size_t n = std::fread(input.data() + have, 1, input.size() - have, file);
      if (n == 0) {
        if (std::ferror(file)) fail(std::string("cannot read: ") + std::strerror(errno));
        file_ended = true;
      }
      have += n;
    }
    z.next_in = input.data();
    z.avail_in = static_cast<uInt>(have);
  }

  int64_t read_plain(uint8_t* dst, int64_t n) {
    int64_t done = std::min<int64_t>(n, z.avail_in);
    std::memcpy(dst, z.next_in, static_cast<size_t>(done));
    z.next_in += done;
    z.avail_in -= static_cast<uInt>(done);
    while (done < n && !file_ended) {
      const size_t got = std::fread(dst + done, 1, static_cast<size_t>(n - done), file);
      if (got == 0) {
        if (std::ferror(file)) fail(std::string("cannot read: ") + std::strerror(errno));
        file_ended = true;
      }
      done += static_cast<int64_t>(got);
    }
    return done;
  }

  int64_t read_gzip(uint8_t* dst, int64_t n) {
    int64_t done = 0;
    while (done < n) {
      if (member_ended) {
        // Another member follows, or this was the end. Zero bytes between are padding (as
        // gzip and Python's gzip module take them).
        for (want_input(1); z.avail_in > 0 && z.next_in[0] == 0; want_input(1)) {
          ++z.next_in;
          --z.avail_in;
        }
        want_input(2);
        if (z.avail_in == 0) break;
        if (z.avail_in < 2 || z.next_in[0] != 0x1f || z.next_in[1] != 0x8b)
          fail("bytes after the end of the last gzip member that start no other member (expected the gzip "
               "magic bytes 1f 8b or the end of the file)");
        if (inflateReset(&z) != Z_OK) fail("cannot restart gzip decompression for the next member");
        member_ended = false;
      }
      want_input(1);
      if (z.avail_in == 0)
        fail("truncated gzip stream: expected the stream to end with its 8-byte trailer (checksum and size), got "
             "an early end of file");
      const uInt room = static_cast<uInt>(std::min<int64_t>(n - done, UINT_MAX / 2));
      const uInt input_before = z.avail_in;
      z.next_out = dst + done;
      z.avail_out = room;
      const int rc = inflate(&z, Z_NO_FLUSH);
      done += room - z.avail_out;
      if (rc == Z_STREAM_END) {
        member_ended = true;  // zlib checked the trailer's CRC-32 and length
      } else if (rc != Z_OK && !(rc == Z_BUF_ERROR && (z.avail_in != input_before || z.avail_out != room))) {
        // (Z_BUF_ERROR with progress only asks for more input; without, nothing could go on.)
        fail(std::string("corrupt gzip data (") + (z.msg ? z.msg : zError(rc)) + ")");
      }
    }
    return done;
  }
};

FileBytes::FileBytes(const std::string& path) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.path = path;
  s.file = std::fopen(path.c_str(), "rb");
  if (!s.file) s.fail(std::string("cannot open the file: ") + std::strerror(errno));
  s.z.next_in = s.input.data();
  s.z.avail_in = 0;
  s.want_input(2);
  s.gzip = s.z.avail_in >= 2 && s.z.next_in[0] == 0x1f && s.z.next_in[1] == 0x8b;
  if (s.gzip) {
    // 16 + MAX_WBITS: a gzip wrapper (header, then CRC-32 and length checked at the end).
    if (inflateInit2(&s.z, 16 + MAX_WBITS) != Z_OK) s.fail("cannot start gzip decompression");
    s.inflating = true;
  }
}

FileBytes::~FileBytes() = default;

int64_t FileBytes::read(uint8_t* dst, int64_t n) {
  if (n <= 0) return 0;
  return state_->gzip ? state_->read_gzip(dst, n) : state_->read_plain(dst, n);
}

bool FileBytes::is_gzip() const { return state_->gzip; }

}  // namespace qtorch::data
