// DataLoader: batch counts, every item once per epoch, images kept with their labels,
// reproducible order per (seed, epoch), and no copies where none are needed.
#include "qtorch/data/loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <set>

#include "qtorch/core/error.h"
#include "qtorch/data/shuffle.h"

namespace qtorch::data {
namespace {

// n items of 2x2 pixels; every pixel of item i holds i, and so does its label.
Dataset make_dataset(int64_t n) {
  std::vector<float> px, lb;
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < 4; ++j) px.push_back(float(i));
    lb.push_back(float(i));
  }
  Dataset d;
  d.images = Tensor::from_vector(px, {n, 1, 2, 2});
  d.labels = Tensor::from_vector(lb, {n});
  d.num_classes = n;
  return d;
}

std::vector<int64_t> epoch_order(DataLoader& loader, int64_t epoch) {
  loader.reset(epoch);
  std::vector<int64_t> order;
  Batch b;
  int64_t expected_index = 0;
  while (loader.next(b)) {
    EXPECT_EQ(b.index, expected_index++);
    EXPECT_EQ(b.images.shape(), (Shape{b.size, 1, 2, 2}));
    EXPECT_EQ(b.labels.shape(), (Shape{b.size}));
    std::vector<float> px = b.images.to_vector(), lb = b.labels.to_vector();
    for (int64_t i = 0; i < b.size; ++i) {
      for (int j = 0; j < 4; ++j) EXPECT_EQ(px[i * 4 + j], lb[i]);  // image kept with label
      order.push_back(int64_t(lb[i]));
    }
  }
  return order;
}

TEST(Loader, CountsBatches) {
  Dataset d = make_dataset(10);
  DataLoader a(d, {.batch_size = 4});
  EXPECT_EQ(a.num_batches(), 3);
  EXPECT_EQ(a.num_samples(), 10);
  DataLoader b(d, {.batch_size = 4, .drop_last = true});
  EXPECT_EQ(b.num_batches(), 2);
  EXPECT_EQ(b.num_samples(), 8);
  EXPECT_EQ(epoch_order(b, 0).size(), 8u);
  DataLoader c(d, {.batch_size = 5});
  EXPECT_EQ(c.num_batches(), 2);
}

TEST(Loader, ShuffledEpochVisitsEveryItemOnce) {
  Dataset d = make_dataset(23);
  DataLoader loader(d, {.batch_size = 5, .shuffle = true, .seed = 3});
  std::vector<int64_t> order = epoch_order(loader, 0);
  ASSERT_EQ(order.size(), 23u);
  // The order is exactly the documented permutation for (seed, epoch).
  EXPECT_EQ(order, random_permutation(23, 3, 0));
  std::vector<int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 23; ++i) EXPECT_EQ(sorted[i], i);
}

TEST(Loader, OrderDependsOnlyOnSeedAndEpoch) {
  Dataset d = make_dataset(50);
  DataLoader a(d, {.batch_size = 8, .seed = 11});
  DataLoader b(d, {.batch_size = 8, .seed = 11});
  std::vector<int64_t> a1 = epoch_order(a, 1);
  epoch_order(b, 0);  // b has run another epoch first: must not matter
  EXPECT_EQ(a1, epoch_order(b, 1));
  EXPECT_NE(epoch_order(a, 0), a1);
  DataLoader c(d, {.batch_size = 8, .seed = 12});
  EXPECT_NE(epoch_order(c, 1), a1);
}

TEST(Loader, UnshuffledBatchesAreViews) {
  Dataset d = make_dataset(10);
  DataLoader loader(d, {.batch_size = 4, .shuffle = false});
  std::vector<int64_t> order = epoch_order(loader, 0);
  for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(order[i], i);
  loader.reset(0);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.images.storage().get(), d.images.storage().get());
  EXPECT_EQ(b.images.data_ptr(), d.images.data_ptr() + 4 * 4);
}

TEST(Loader, ShuffledBatchesReuseOneBuffer) {
  Dataset d = make_dataset(10);
  DataLoader loader(d, {.batch_size = 4});
  Batch b;
  ASSERT_TRUE(loader.next(b));
  float* first = b.images.data_ptr();
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.images.data_ptr(), first);
  ASSERT_TRUE(loader.next(b));  // the short last batch is a view of the same buffer
  EXPECT_EQ(b.size, 2);
  EXPECT_EQ(b.images.data_ptr(), first);
  EXPECT_FALSE(loader.next(b));
}

TEST(Loader, RejectsBadOptions) {
  Dataset d = make_dataset(4);
  EXPECT_THROW(DataLoader(d, {.batch_size = 0}), Error);
}

// A batch larger than the data set yields one batch of the whole set, gathered into a
// buffer of the data set's size: batch_size x item floats used to be allocated up front
// (std::bad_alloc for 10^7 items of 28x28), and (n + b - 1) / b overflowed for huge b.
TEST(Loader, BatchLargerThanTheDataSetIsOneBatchOfItAll) {
  Dataset d = make_dataset(5);
  for (int64_t batch_size : {int64_t{6}, int64_t{10000000}, int64_t{1} << 62,
                             std::numeric_limits<int64_t>::max()}) {
    DataLoader loader(d, {.batch_size = batch_size});
    EXPECT_EQ(loader.num_batches(), 1) << batch_size;
    EXPECT_EQ(loader.num_samples(), 5) << batch_size;
    std::vector<int64_t> order = epoch_order(loader, 0);
    std::sort(order.begin(), order.end());
    EXPECT_EQ(order, (std::vector<int64_t>{0, 1, 2, 3, 4})) << batch_size;
    Batch b;
    loader.reset(1);
    ASSERT_TRUE(loader.next(b));
    EXPECT_EQ(b.images.storage()->numel(), 5 * 4) << "the gather buffer holds the data set, no more";
  }
  DataLoader unshuffled(d, {.batch_size = std::numeric_limits<int64_t>::max(), .shuffle = false});
  EXPECT_EQ(epoch_order(unshuffled, 0), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  DataLoader dropped(d, {.batch_size = 6, .drop_last = true});
  EXPECT_EQ(dropped.num_batches(), 0);
  Batch b;
  EXPECT_FALSE(dropped.next(b));
}

// Iterating over nothing "trained" for 0 steps and reported success.
TEST(Loader, RejectsAnEmptyDataSet) {
  try {
    DataLoader(make_dataset(0), {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "DataLoader: expected a data set of at least 1 item, got 0");
  }
}

// Each malformed data set gets a message about what is wrong with it.
TEST(Loader, MalformedDataSetsAreNamed) {
  auto message = [](const Dataset& d) {
    try {
      DataLoader loader(d, {});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  Dataset mismatch = make_dataset(4);
  mismatch.labels = zeros({3});
  EXPECT_EQ(message(mismatch),
            "DataLoader: expected images [N, ...] and labels [N], got images [4, 1, 2, 2] and labels [3]");
  EXPECT_EQ(message(Dataset{}), "DataLoader: expected a data set with image and label tensors, got undefined images");
  Dataset strided = make_dataset(4);
  strided.images = strided.images.transpose(2, 3);
  EXPECT_NE(message(strided).find("DataLoader: expected contiguous image and label tensors"), std::string::npos);
  Dataset no_pixels;  // 3 images of 0x0 pixels hold no element out of place
  no_pixels.images = empty({3, 1, 0, 0});
  no_pixels.labels = zeros({3});
  EXPECT_EQ(message(no_pixels), "no error");
}

}  // namespace
}  // namespace qtorch::data
