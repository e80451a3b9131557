// Loading MNIST-layout folders into tensors.
#include "qtorch/data/mnist.h"

#include <cmath>
#include <filesystem>

#include "qtorch/core/error.h"
#include "qtorch/data/idx.h"

namespace qtorch::data {

std::string find_idx_file(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  QTORCH_CHECK(fs::is_directory(dir, ec) || !fs::exists(dir, ec),
               "mnist: data folder '{}' is not a folder (a file of that name exists); expected a folder holding the "
               "IDX files {{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte[.gz]",
               dir);
  QTORCH_CHECK(fs::is_directory(dir, ec),
               "mnist: data folder '{}' does not exist; install the Debian package "
               "dataset-fashion-mnist (sudo apt-get install dataset-fashion-mnist, or run "
               "scripts/install-deps.sh), or use a folder holding the IDX files "
               "{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte[.gz]",
               dir);
  fs::path base = fs::path(dir) / name;
  fs::path gz = base;
  gz += ".gz";
  if (fs::exists(gz, ec)) return gz.string();
  if (fs::exists(base, ec)) return base.string();
  QTORCH_FAIL("mnist: data folder '{}' has neither {}.gz nor {}; expected the IDX files "
              "{{train,t10k}}-{{images-idx3,labels-idx1}}-ubyte[.gz] (the Debian package "
              "dataset-fashion-mnist installs them in {})",
              dir, name, name, kFashionMnistDir);
}

Dataset load_mnist(const std::string& dir, Split split, const MnistOptions& o) {
  const std::string prefix = split == Split::Train ? "train" : "t10k";
  const std::string image_path = find_idx_file(dir, prefix + "-images-idx3-ubyte");
  const std::string label_path = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
  QTORCH_CHECK(o.num_classes >= 1 && o.num_classes <= 256,
               "load_mnist: expected num_classes in [1, 256], got {}", o.num_classes);
  QTORCH_CHECK(!o.normalize || (std::isfinite(o.mean) && std::isfinite(o.std) && o.std > 0.0f),
               "load_mnist: expected a finite mean and a finite std > 0, got mean {} and std {}", o.mean, o.std);

  IdxArray labels = read_idx(label_path, 1);
  IdxArray images = read_idx(image_path, 3);
  QTORCH_CHECK(images.dims[1] == kMnistImageSide && images.dims[2] == kMnistImageSide,
               "load_mnist: {}: expected {}x{} images, got {}x{}", image_path, kMnistImageSide,
               kMnistImageSide, images.dims[1], images.dims[2]);
  QTORCH_CHECK(images.dims[0] >= 1, "load_mnist: {}: holds 0 images; expected at least 1",
               image_path);
  QTORCH_CHECK(images.dims[0] == labels.dims[0],
               "load_mnist: {} holds {} images but {} holds {} labels", image_path,
               images.dims[0], label_path, labels.dims[0]);
  QTORCH_CHECK(o.limit != 0, "load_mnist: limit 0 keeps none of the {} images of {}; expected a "
               "limit >= 1 (or negative for all)", images.dims[0], image_path);
  const int64_t n = o.limit > 0 ? std::min(o.limit, images.dims[0]) : images.dims[0];
  const int64_t rows = images.dims[1], cols = images.dims[2], pixels = rows * cols;

  Dataset out;
  out.num_classes = o.num_classes;
  out.labels = empty({n});
  float* label_data = out.labels.data_ptr();
  for (int64_t i = 0; i < n; ++i) {
    uint8_t c = labels.data[static_cast<size_t>(i)];
    QTORCH_CHECK(c < o.num_classes, "load_mnist: {}: label {} of item {} is not below {}",
                 label_path, int{c}, i, o.num_classes);
    label_data[i] = static_cast<float>(c);
  }

  // Each byte's value once, in float32 as torchvision's ToTensor and Normalize form it:
  // p / 255, then (that - mean) / std.
  float value_of[256];
  for (int p = 0; p < 256; ++p) {
    const float unit = static_cast<float>(p) / 255.0f;
    value_of[p] = o.normalize ? (unit - o.mean) / o.std : unit;
  }
  out.images = empty({n, 1, rows, cols});
  float* dst = out.images.data_ptr();
  const uint8_t* src = images.data.data();
  for (int64_t i = 0; i < n * pixels; ++i) dst[i] = value_of[src[i]];
  return out;
}

}  // namespace qtorch::data
