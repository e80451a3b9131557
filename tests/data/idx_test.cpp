// IDX reader: valid raw and gzip files, and every kind of broken file naming the problem.
#include "qtorch/data/idx.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "qtorch/core/error.h"
#include "tests/data/idx_file.h"

namespace qtorch::data {
namespace {

using testing::idx_bytes;
using testing::ScratchDir;
using testing::write_file;

// Expects read_idx(path) to throw a message containing path and every one of `parts`.
void expect_error(const std::string& path, int ndim, std::initializer_list<const char*> parts) {
  try {
    read_idx(path, ndim);
    FAIL() << "read_idx(" << path << ") did not throw";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    for (const char* p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
}

TEST(Idx, ReadsRawFile) {
  ScratchDir dir("idx");
  write_file(dir.file("a"), idx_bytes({2, 3}, {1, 2, 3, 4, 5, 255}), false);
  IdxArray a = read_idx(dir.file("a"), 2);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.data, (std::vector<uint8_t>{1, 2, 3, 4, 5, 255}));
  EXPECT_EQ(a.item_size(), 3);
}

TEST(Idx, ReadsGzipFile) {
  ScratchDir dir("idx");
  std::vector<uint8_t> data(2 * 4 * 5);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  write_file(dir.file("a.gz"), idx_bytes({2, 4, 5}, data), true);
  IdxArray a = read_idx(dir.file("a.gz"));
  EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 4, 5}));
  EXPECT_EQ(a.data, data);
  EXPECT_EQ(a.item_size(), 20);
}

TEST(Idx, ReadsLargeDimensionsBigEndian) {
  ScratchDir dir("idx");
  std::vector<uint8_t> data(300, 9);
  write_file(dir.file("a"), idx_bytes({300}, data), false);
  IdxArray a = read_idx(dir.file("a"), 1);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{300}));  // bytes 00 00 01 2c
  EXPECT_EQ(a.data.size(), 300u);
}

TEST(Idx, MissingFile) {
  ScratchDir dir("idx");
  expect_error(dir.file("nope"), -1, {"no such file"});
}

TEST(Idx, EmptyFile) {
  ScratchDir dir("idx");
  write_file(dir.file("a"), {}, false);
  expect_error(dir.file("a"), -1, {"truncated", "magic"});
}

TEST(Idx, BadMagic) {
  ScratchDir dir("idx");
  std::vector<uint8_t> bytes = idx_bytes({2}, {1, 2});
  bytes[0] = 0x50;  // e.g. a PNG or text file
  write_file(dir.file("a"), bytes, false);
  expect_error(dir.file("a"), -1, {"bad magic number", "0x50000801"});
}

TEST(Idx, UnsupportedElementType) {
  ScratchDir dir("idx");
  write_file(dir.file("a"), idx_bytes({1}, {0, 0, 0, 0}, 0x0D), false);
  expect_error(dir.file("a"), -1, {"unsupported element type 0x0d"});
}

TEST(Idx, WrongNumberOfDimensions) {
  ScratchDir dir("idx");
  write_file(dir.file("a"), idx_bytes({2, 2}, {1, 2, 3, 4}), false);
  expect_error(dir.file("a"), 3, {"expected 3 dimensions, got 2"});
}

TEST(Idx, TruncatedHeader) {
  ScratchDir dir("idx");
  std::vector<uint8_t> bytes = idx_bytes({2, 2, 2}, {});
  bytes.resize(9);  // magic plus 5 of the 12 dimension bytes
  write_file(dir.file("a"), bytes, false);
  expect_error(dir.file("a"), -1, {"truncated", "expected 12 bytes of dimensions, got 5"});
}

TEST(Idx, TruncatedData) {
  ScratchDir dir("idx");
  write_file(dir.file("a"), idx_bytes({3, 2}, {1, 2, 3, 4}), false);
  expect_error(dir.file("a"), -1, {"truncated", "expected 6 bytes of data, got 4"});
}

// Found by tests/fuzz/idx_fuzz: a 15-byte file whose header announces 5243648 x 512 bytes
// made the reader allocate and zero 2.5 GB before noticing the truncation (16 GiB, the
// largest size accepted, for a 12-byte header). The buffer now grows with the bytes read.
TEST(Idx, HugeAnnouncedSizeWithLittleDataIsTruncatedNotAllocated) {
  ScratchDir dir("idx");
  write_file(dir.file("a"), {0x00, 0x00, 0x08, 0x02, 0x00, 0x50, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 1, 2, 3},
             false);
  expect_error(dir.file("a"), -1, {"truncated", "expected 2684747776 bytes of data, got 3"});
  write_file(dir.file("b"), idx_bytes({16, 1u << 30}, std::vector<uint8_t>(100, 7)), false);
  expect_error(dir.file("b"), -1, {"truncated", "expected 17179869184 bytes of data, got 100"});
}

// Found by tests/fuzz/idx_fuzz: no items (first dimension 0) but other dimensions whose
// product overflows int64 was accepted, and item_size() then overflowed (undefined
// behaviour). Such a file is now refused like any other implausible size.
TEST(Idx, ZeroItemsWithHugeItemDimensionsIsImplausible) {
  ScratchDir dir("idx");
  write_file(dir.file("a"),
             {0x00, 0x00, 0x08, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x31,
              0x31, 0x31, 0x31, 0xb1, 0x31, 0x30, 0x00, 0x00, 0x00, 0x00, 0x31, 0x97},
             false);
  expect_error(dir.file("a"), -1, {"implausible dimensions"});
  write_file(dir.file("b"), idx_bytes({0, 0xffffffffu, 0xffffffffu}, {}), false);
  expect_error(dir.file("b"), -1, {"implausible dimensions"});
  // Zero sizes themselves stay fine.
  write_file(dir.file("c"), idx_bytes({0, 28, 28}, {}), false);
  IdxArray c = read_idx(dir.file("c"));
  EXPECT_EQ(c.item_size(), 28 * 28);
  EXPECT_TRUE(c.data.empty());
}

TEST(Idx, ItemSizeOverflowThrows) {
  IdxArray a;
  a.dims = {1, int64_t{1} << 40, int64_t{1} << 40};
  EXPECT_THROW(a.item_size(), Error);
}

TEST(Idx, TruncatedGzipData) {
  ScratchDir dir("idx");
  write_file(dir.file("a.gz"), idx_bytes({3, 2}, {1, 2, 3, 4}), true);
  expect_error(dir.file("a.gz"), -1, {"truncated", "expected 6 bytes of data, got 4"});
}

TEST(Idx, TruncatedGzipStream) {
  ScratchDir dir("idx");
  std::vector<uint8_t> data(4000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  write_file(dir.file("full.gz"), idx_bytes({4000}, data), true);
  // Cut the compressed file in half: zlib reports a truncated stream or a short read.
  std::ifstream in(dir.file("full.gz"), std::ios::binary);
  std::vector<uint8_t> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gz.resize(gz.size() / 2);
  write_file(dir.file("cut.gz"), gz, false);
  try {
    read_idx(dir.file("cut.gz"));
    FAIL() << "no error for a cut gzip stream";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(dir.file("cut.gz")), std::string::npos) << msg;
    bool named = msg.find("truncated") != std::string::npos ||
                 msg.find("unexpected end of file") != std::string::npos;
    EXPECT_TRUE(named) << msg;
  }
}

// A file whose gzip stream stops inside its 8-byte trailer (CRC-32 and size) holds all the
// data but not the checksum: accepting it would let a corrupt download through unchecked.
TEST(Idx, GzipStreamWithoutItsTrailerIsRefused) {
  ScratchDir dir("idx");
  std::vector<uint8_t> data(4000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  write_file(dir.file("full.gz"), idx_bytes({4000}, data), true);
  std::ifstream in(dir.file("full.gz"), std::ios::binary);
  const std::vector<uint8_t> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(read_idx(dir.file("full.gz")).data, data);
  for (size_t cut : {1u, 4u, 8u}) {
    std::vector<uint8_t> part(gz.begin(), gz.end() - static_cast<std::ptrdiff_t>(cut));
    write_file(dir.file("cut.gz"), part, false);
    expect_error(dir.file("cut.gz"), -1, {"truncated gzip stream", "trailer"});
  }
}

namespace {

std::vector<uint8_t> file_bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Pseudo-random bytes (compress poorly, so the file is as large as the data).
std::vector<uint8_t> noise(size_t n) {
  std::vector<uint8_t> data(n);
  uint32_t x = 12345;
  for (auto& b : data) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return data;
}

}  // namespace

// The same with a file of megabytes: zlib's gzread returned the end of file without an error
// when a read ended exactly where the cut file did, so Fashion-MNIST's image file cut by a
// few bytes loaded, its checksum unread (the s26 data audit).
TEST(Idx, LargeGzipFileCutAnywhereInItsTrailerIsRefused) {
  ScratchDir dir("idx");
  const std::vector<uint8_t> data = noise(3u << 20);
  write_file(dir.file("full.gz"), idx_bytes({static_cast<uint32_t>(data.size())}, data), true);
  const std::vector<uint8_t> gz = file_bytes_of(dir.file("full.gz"));
  ASSERT_EQ(read_idx(dir.file("full.gz")).data, data);
  for (size_t cut = 1; cut <= 9; ++cut) {
    write_file(dir.file("cut.gz"), std::vector<uint8_t>(gz.begin(), gz.end() - static_cast<std::ptrdiff_t>(cut)),
               false);
    expect_error(dir.file("cut.gz"), -1, {"truncated gzip stream", "trailer"});
  }
  // A wrong checksum (the trailer's CRC-32, its first 4 bytes) or length is refused too.
  for (size_t from_end : {8u, 1u}) {
    std::vector<uint8_t> bad = gz;
    bad[bad.size() - from_end] ^= 0x01;
    write_file(dir.file("bad.gz"), bad, false);
    expect_error(dir.file("bad.gz"), -1, {"corrupt gzip data", from_end == 8 ? "data check" : "length check"});
  }
}

// A gzip file of several members (as `cat a.gz b.gz` makes) is their bytes in order, as gzip
// reads it; zero bytes after a member are padding (as gzip and Python take them); other
// bytes after the last member that start no other member are refused (gzread ignored them).
TEST(Idx, GzipMembersAreReadInOrderAndTrailingGarbageIsRefused) {
  ScratchDir dir("idx");
  const std::vector<uint8_t> whole = idx_bytes({6}, {1, 2, 3, 4, 5, 6});
  write_file(dir.file("a.gz"), std::vector<uint8_t>(whole.begin(), whole.begin() + 7), true);
  write_file(dir.file("b.gz"), std::vector<uint8_t>(whole.begin() + 7, whole.end()), true);
  std::vector<uint8_t> two = file_bytes_of(dir.file("a.gz"));
  const std::vector<uint8_t> b = file_bytes_of(dir.file("b.gz"));
  two.insert(two.end(), b.begin(), b.end());
  write_file(dir.file("two.gz"), two, false);
  EXPECT_EQ(read_idx(dir.file("two.gz")).data, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
  for (const std::vector<uint8_t>& padding : {std::vector<uint8_t>{0}, std::vector<uint8_t>(512, 0)}) {
    std::vector<uint8_t> padded(two.begin(), two.end() - static_cast<std::ptrdiff_t>(b.size()));
    padded.insert(padded.end(), padding.begin(), padding.end());
    padded.insert(padded.end(), b.begin(), b.end());
    padded.insert(padded.end(), padding.begin(), padding.end());
    write_file(dir.file("padded.gz"), padded, false);
    EXPECT_EQ(read_idx(dir.file("padded.gz")).data, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
  }
  for (const std::vector<uint8_t>& junk : {std::vector<uint8_t>{'x', 'y', 'z'}, std::vector<uint8_t>{0, 0, 7}}) {
    std::vector<uint8_t> trailing = two;
    trailing.insert(trailing.end(), junk.begin(), junk.end());
    write_file(dir.file("junk.gz"), trailing, false);
    expect_error(dir.file("junk.gz"), -1, {"after the end of the last gzip member"});
  }
}

TEST(Idx, TrailingBytes) {
  ScratchDir dir("idx");
  write_file(dir.file("a"), idx_bytes({2}, {1, 2, 3}), false);
  expect_error(dir.file("a"), -1, {"1 bytes left over", "2 bytes of data"});
}

TEST(Idx, CorruptGzip) {
  ScratchDir dir("idx");
  // A gzip header followed by garbage deflate data.
  write_file(dir.file("a.gz"), {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff},
             false);
  EXPECT_THROW(read_idx(dir.file("a.gz")), Error);
}

TEST(Idx, WriteIdxRoundTrip) {
  ScratchDir dir("idx");
  std::vector<uint8_t> data = {9, 8, 7, 6, 5, 4};
  for (bool gz : {false, true}) {
    std::string path = dir.file(gz ? "w.gz" : "w");
    write_idx(path, {1, 2, 3}, data, gz);
    IdxArray a = read_idx(path, 3);
    EXPECT_EQ(a.dims, (std::vector<int64_t>{1, 2, 3}));
    EXPECT_EQ(a.data, data);
    std::ifstream in(path, std::ios::binary);
    int first = in.get();
    EXPECT_EQ(first, gz ? 0x1f : 0x00);  // gzip magic, or the raw IDX magic
  }
  EXPECT_THROW(write_idx(dir.file("bad"), {2, 2}, data, false), Error);
}

TEST(Idx, WriteIdxChecksFirstAndReplacesTheFileWhole) {
  // A bad call left an empty file where a good one was (it opened the file first).
  ScratchDir dir("idx");
  const std::string path = dir.file("keep");
  write_idx(path, {3}, {1, 2, 3}, false);
  EXPECT_THROW(write_idx(path, {4}, {1, 2, 3}, false), Error);
  EXPECT_THROW(write_idx(path, {}, {}, false), Error);
  try {
    write_idx(path, {0xffffffffLL, 0xffffffffLL, 3}, {1, 2, 3}, true);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("got 3 bytes for dimensions of product above that"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(read_idx(path, 1).data, (std::vector<uint8_t>{1, 2, 3}));
  // The write goes through a temporary beside the file, renamed over it: a failed rename (onto
  // a folder) leaves no temporary behind.
  ScratchDir target("idx");
  EXPECT_THROW(write_idx(target.str(), {2}, {7, 8}, false), Error);
  ScratchDir sub("idx");
  EXPECT_THROW(read_idx(sub.str(), 1), Error);  // a folder: "not a regular file"
  try {
    read_idx(sub.str(), 1);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace qtorch::data
