// MNIST-layout image data sets (Fashion-MNIST by default): the four IDX files of a folder
// turned into one float image tensor [N, 1, rows, cols] in [0, 1] and a label tensor [N].
#pragma once

#include <cstdint>
#include <string>

#include "qtorch/core/tensor.h"

namespace qtorch::data {

/// A labelled image data set held in memory (on the CPU as loaded).
struct Dataset {
  Tensor images;  ///< [N, 1, rows, cols], pixel / 255, normalised when asked
  Tensor labels;  ///< [N], class indices as floats
  int64_t num_classes = 10;

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  /// A copy on `device` (this one when it is there already): a DataLoader on that device
  /// then gathers its batches there (Fashion-MNIST's training set is 188 MB).
  Dataset to(Device device) const {
    if (images.device() == device && labels.device() == device) return *this;
    return {images.to(device), labels.to(device), num_classes};
  }
};

enum class Split { Train, Test };

struct MnistOptions {
  /// Subtract `mean` and divide by `std` after scaling to [0, 1].
  bool normalize = false;
  float mean = 0.2860f;  ///< Fashion-MNIST training-set pixel mean
  float std = 0.3530f;   ///< Fashion-MNIST training-set pixel standard deviation
  /// Keep only the first `limit` images (all when negative; 0 is an error).
  int64_t limit = -1;
  int64_t num_classes = 10;
};

/// MNIST and Fashion-MNIST images are 28x28 pixels; the models are built for that size.
inline constexpr int64_t kMnistImageSide = 28;

/// Where the Debian package dataset-fashion-mnist puts its files.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// The path of `name` ("train-images-idx3-ubyte", ...) in `dir`: `name.gz` when present,
/// else `name`. Throws when the folder or both files are missing, saying how to get them.
std::string find_idx_file(const std::string& dir, const std::string& name);

/// Loads one split of an MNIST-layout folder ({train,t10k}-{images-idx3,labels-idx1}-ubyte,
/// each optionally .gz). Checks that the images are 28x28, that there is at least one,
/// that image and label counts agree and that every label is below num_classes.
Dataset load_mnist(const std::string& dir, Split split, const MnistOptions& options = {});

}  // namespace qtorch::data
