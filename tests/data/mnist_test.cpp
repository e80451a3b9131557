// MNIST-layout folders: scaling, normalisation, limits, and the checks across files.
#include "qtorch/data/mnist.h"

#include <gtest/gtest.h>

#include <cmath>

#include "qtorch/core/error.h"
#include "tests/data/idx_file.h"

namespace qtorch::data {
namespace {

using testing::idx_bytes;
using testing::ScratchDir;
using testing::write_file;

constexpr uint32_t kPixels = 28 * 28;

// Writes a split of n images of 28x28 pixels, pixel j of image i = (10 * i + j) mod 256,
// label i % 10.
void write_split(const ScratchDir& dir, const std::string& prefix, uint32_t n, bool gzip,
                 uint32_t labels_n = 0, uint8_t bad_label = 0) {
  std::vector<uint8_t> pixels, labels;
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t j = 0; j < kPixels; ++j) pixels.push_back(static_cast<uint8_t>(10 * i + j));
  }
  uint32_t ln = labels_n ? labels_n : n;
  for (uint32_t i = 0; i < ln; ++i) labels.push_back(static_cast<uint8_t>(i % 10));
  if (bad_label) labels.back() = bad_label;
  std::string ext = gzip ? ".gz" : "";
  write_file(dir.file(prefix + "-images-idx3-ubyte" + ext), idx_bytes({n, 28, 28}, pixels), gzip);
  write_file(dir.file(prefix + "-labels-idx1-ubyte" + ext), idx_bytes({ln}, labels), gzip);
}

TEST(Mnist, LoadsAndScales) {
  ScratchDir dir("mnist");
  write_split(dir, "train", 12, true);
  write_split(dir, "t10k", 4, false);  // uncompressed files are found too
  Dataset train = load_mnist(dir.str(), Split::Train);
  ASSERT_EQ(train.size(), 12);
  EXPECT_EQ(train.images.shape(), (Shape{12, 1, 28, 28}));
  EXPECT_EQ(train.labels.shape(), (Shape{12}));
  std::vector<float> px = train.images.to_vector(), lb = train.labels.to_vector();
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(lb[i], float(i % 10));
    for (int j = 0; j < 6; ++j) EXPECT_FLOAT_EQ(px[i * kPixels + j], (10 * i + j) / 255.0f);
  }
  Dataset test = load_mnist(dir.str(), Split::Test);
  EXPECT_EQ(test.size(), 4);
}

TEST(Mnist, NormalisesEveryByteAsTorchvisionAndRefusesNonFiniteStatistics) {
  ScratchDir dir("mnist");
  write_split(dir, "train", 1, false);  // pixel j = j mod 256: every byte value
  const MnistOptions o{.normalize = true, .mean = 0.2860f, .std = 0.3530f};
  const std::vector<float> px = load_mnist(dir.str(), Split::Train, o).images.to_vector();
  for (uint32_t j = 0; j < 256; ++j) {
    const float unit = static_cast<float>(j) / 255.0f;
    EXPECT_EQ(px[j], (unit - o.mean) / o.std) << j;
  }
  for (const MnistOptions bad : {MnistOptions{.normalize = true, .mean = NAN}, MnistOptions{.normalize = true, .std = INFINITY},
                                 MnistOptions{.normalize = true, .std = NAN}, MnistOptions{.normalize = true, .std = 0.0f}}) {
    try {
      load_mnist(dir.str(), Split::Train, bad);
      ADD_FAILURE() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("expected a finite mean and a finite std > 0"), std::string::npos) << e.what();
    }
  }
}

TEST(Mnist, NormalisesAndLimits) {
  ScratchDir dir("mnist");
  write_split(dir, "train", 12, true);
  MnistOptions o{.normalize = true, .mean = 0.5f, .std = 0.25f, .limit = 5};
  Dataset d = load_mnist(dir.str(), Split::Train, o);
  ASSERT_EQ(d.size(), 5);
  std::vector<float> px = d.images.to_vector();
  // torchvision's ToTensor and Normalize, in float32: p / 255, then (that - mean) / std.
  EXPECT_EQ(px[0], (0 / 255.0f - 0.5f) / 0.25f);
  EXPECT_EQ(px[4 * kPixels + 5], (45 / 255.0f - 0.5f) / 0.25f);
  o.limit = 100;  // more than there are: all of them
  EXPECT_EQ(load_mnist(dir.str(), Split::Train, o).size(), 12);
}

TEST(Mnist, MissingFolderSaysHowToInstall) {
  try {
    load_mnist("/nonexistent/qtorch-data", Split::Train);
    FAIL();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("/nonexistent/qtorch-data"), std::string::npos) << msg;
    EXPECT_NE(msg.find("dataset-fashion-mnist"), std::string::npos) << msg;
  }
}

TEST(Mnist, AFileGivenAsTheFolderIsNamedAsSuch) {
  // It said the folder "does not exist".
  ScratchDir dir("mnist");
  write_file(dir.file("plain"), {1, 2, 3}, false);
  try {
    load_mnist(dir.file("plain"), Split::Train);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not a folder (a file of that name exists)"), std::string::npos)
        << e.what();
  }
}

TEST(Mnist, MissingFileNamed) {
  ScratchDir dir("mnist");
  write_split(dir, "t10k", 3, true);
  std::filesystem::remove(dir.file("t10k-labels-idx1-ubyte.gz"));
  try {
    load_mnist(dir.str(), Split::Test);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("t10k-labels-idx1-ubyte"), std::string::npos) << e.what();
  }
}

TEST(Mnist, CountMismatch) {
  ScratchDir dir("mnist");
  write_split(dir, "train", 4, false, 3);
  try {
    load_mnist(dir.str(), Split::Train);
    FAIL();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("4 images"), std::string::npos) << msg;
    EXPECT_NE(msg.find("3 labels"), std::string::npos) << msg;
  }
}

TEST(Mnist, LabelOutOfRange) {
  ScratchDir dir("mnist");
  write_split(dir, "train", 4, false, 0, 10);
  try {
    load_mnist(dir.str(), Split::Train);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("label 10 of item 3"), std::string::npos) << e.what();
  }
}

TEST(Mnist, ImagesMustBeThreeDimensional) {
  ScratchDir dir("mnist");
  write_file(dir.file("train-images-idx3-ubyte"), idx_bytes({2, 6}, std::vector<uint8_t>(12)), false);
  write_file(dir.file("train-labels-idx1-ubyte"), idx_bytes({2}, {0, 1}), false);
  try {
    load_mnist(dir.str(), Split::Train);
    FAIL();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("train-images-idx3-ubyte"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected 3 dimensions, got 2"), std::string::npos) << msg;
  }
}

std::string load_error(const std::string& dir, Split split, const MnistOptions& o = {}) {
  try {
    load_mnist(dir, split, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// Valid IDX files of 10x10 images used to load, and training failed later in the first
// Linear layer (or LeNet's pooling read past its input).
TEST(Mnist, ImagesMustBe28x28) {
  ScratchDir dir("mnist");
  write_split(dir, "train", 3, false);
  write_file(dir.file("t10k-images-idx3-ubyte"), idx_bytes({3, 10, 10}, std::vector<uint8_t>(300)), false);
  write_file(dir.file("t10k-labels-idx1-ubyte"), idx_bytes({3}, {0, 1, 2}), false);
  EXPECT_EQ(load_error(dir.str(), Split::Test),
            "load_mnist: " + dir.file("t10k-images-idx3-ubyte") + ": expected 28x28 images, got 10x10");
  write_file(dir.file("train-images-idx3-ubyte"), idx_bytes({3, 0, 0}, {}), false);
  EXPECT_EQ(load_error(dir.str(), Split::Train),
            "load_mnist: " + dir.file("train-images-idx3-ubyte") + ": expected 28x28 images, got 0x0");
}

// Files of 0 images and 0 labels made training run 0 steps and report success.
TEST(Mnist, EmptySplitIsRejected) {
  ScratchDir dir("mnist");
  write_split(dir, "train", 0, true);
  write_split(dir, "t10k", 0, false);
  EXPECT_EQ(load_error(dir.str(), Split::Train),
            "load_mnist: " + dir.file("train-images-idx3-ubyte.gz") + ": holds 0 images; expected at least 1");
  EXPECT_EQ(load_error(dir.str(), Split::Test),
            "load_mnist: " + dir.file("t10k-images-idx3-ubyte") + ": holds 0 images; expected at least 1");
}

// limit 0 kept no image: an empty data set.
TEST(Mnist, LimitZeroIsRejected) {
  ScratchDir dir("mnist");
  write_split(dir, "train", 4, false);
  EXPECT_EQ(load_error(dir.str(), Split::Train, {.limit = 0}),
            "load_mnist: limit 0 keeps none of the 4 images of " + dir.file("train-images-idx3-ubyte") +
                "; expected a limit >= 1 (or negative for all)");
  EXPECT_EQ(load_mnist(dir.str(), Split::Train, {.limit = -1}).size(), 4);
}

}  // namespace
}  // namespace qtorch::data
