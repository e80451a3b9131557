// DataLoader: batch counts, every item once per epoch, images kept with their labels,
// reproducible order per (seed, epoch), and no copies where none are needed.
#include "qtorch/data/loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <set>

#include "qtorch/core/error.h"
#include "qtorch/core/threads.h"
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

// Batches of Fashion-MNIST's shape, large enough that the gather runs on the threads: every
// row is its item's, whole, on one thread and on two.
TEST(Loader, LargeShuffledBatchesHoldWholeRowsOnEveryThreadCount) {
  const int64_t n = 1000, row = 784;
  std::vector<float> px(static_cast<size_t>(n * row)), lb(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < row; ++j) px[static_cast<size_t>(i * row + j)] = float(i * 1000 + j);
    lb[static_cast<size_t>(i)] = float(i);
  }
  Dataset d;
  d.images = Tensor::from_vector(px, {n, 1, 28, 28});
  d.labels = Tensor::from_vector(lb, {n});
  d.num_classes = n;
  const int threads_before = get_num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    DataLoader loader(d, {.batch_size = 128, .shuffle = true, .seed = 7});
    const std::vector<int64_t> order = random_permutation(n, 7, 0);
    Batch b;
    int64_t seen = 0;
    while (loader.next(b)) {
      const std::vector<float> images = b.images.to_vector(), labels = b.labels.to_vector();
      for (int64_t i = 0; i < b.size; ++i, ++seen) {
        const int64_t item = order[static_cast<size_t>(seen)];
        ASSERT_EQ(labels[static_cast<size_t>(i)], float(item)) << threads << " threads, row " << seen;
        for (int64_t j = 0; j < row; ++j)
          ASSERT_EQ(images[static_cast<size_t>(i * row + j)], float(item * 1000 + j)) << threads << " threads, row " << seen;
      }
    }
    EXPECT_EQ(seen, n);
  }
  set_num_threads(threads_before);
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
// Data-parallel sharding: `shards` loaders of batch B together yield, batch by batch, the
// items of one loader of batch shards * B, each taking its contiguous share in rank order.
TEST(DataLoaderShards, TogetherEqualOneLoaderOfTheGlobalBatch) {
  for (int64_t n : {1, 7, 50, 64, 65}) {
    for (int64_t shards : {2, 3, 4}) {
      for (bool drop_last : {false, true}) {
        const Dataset d = make_dataset(n);
        const int64_t b = 8;
        DataLoader global(d, {.batch_size = b * shards, .shuffle = true, .seed = 5, .drop_last = drop_last});
        std::vector<std::unique_ptr<DataLoader>> parts;
        for (int64_t r = 0; r < shards; ++r)
          parts.push_back(std::make_unique<DataLoader>(
              d, LoaderOptions{.batch_size = b, .shuffle = true, .seed = 5, .drop_last = drop_last, .shard = r, .shards = shards}));
        for (auto& p : parts) EXPECT_EQ(p->num_batches(), global.num_batches()) << n << " " << shards;
        for (int64_t epoch : {0, 3}) {
          global.reset(epoch);
          for (auto& p : parts) p->reset(epoch);
          Batch g;
          while (global.next(g)) {
            std::vector<float> joined;
            for (int64_t r = 0; r < shards; ++r) {
              Batch part;
              ASSERT_TRUE(parts[static_cast<size_t>(r)]->next(part));
              EXPECT_EQ(part.index, g.index);
              EXPECT_EQ(part.global_size, g.size);
              // Shares differ by at most one item and follow floor(g * r / shards).
              EXPECT_EQ(part.size, g.size * (r + 1) / shards - g.size * r / shards);
              for (float v : part.labels.to_vector()) joined.push_back(v);
            }
            EXPECT_EQ(joined, g.labels.to_vector()) << "n " << n << " shards " << shards << " batch " << g.index;
          }
          for (auto& p : parts) {
            Batch extra;
            EXPECT_FALSE(p->next(extra));
          }
        }
      }
    }
  }
}

TEST(DataLoaderShards, RejectsABadShard) {
  const Dataset d = make_dataset(10);
  EXPECT_THROW(DataLoader(d, {.batch_size = 2, .shard = 2, .shards = 2}), Error);
  EXPECT_THROW(DataLoader(d, {.batch_size = 2, .shard = -1, .shards = 2}), Error);
  EXPECT_THROW(DataLoader(d, {.batch_size = 2, .shard = 0, .shards = 0}), Error);
  try {
    DataLoader(d, {.batch_size = 2, .shard = 3, .shards = 2});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shard 3 of 2"), std::string::npos) << e.what();
  }
}

}  // namespace qtorch::data
