// The device-resident data path: row gathers on the GPU equal the CPU's, and a DataLoader
// over a data set on the GPU yields the same batches, for the same seed and epoch, as one
// over the data set on the CPU (shuffled, sharded, and in order).
#include <gtest/gtest.h>

#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/data/loader.h"
#include "tests/cuda/parity.h"

namespace qtorch::parity {
namespace {

TEST(CudaDataPath, TakeRowsMatchesTheCpu) {
  QTORCH_REQUIRE_CUDA();
  const Tensor x = random_cpu({50, 3, 7}, 1);
  const std::vector<int64_t> rows = {49, 0, 7, 7, 13, 2, 48};
  const Tensor cpu = ops::take_rows(x, rows);
  const Tensor gpu = ops::take_rows(x.to(kGpu), rows);
  expect_same_bits(cpu, gpu.cpu(), "take_rows");
  EXPECT_THROW(ops::take_rows(x.to(kGpu), {50}), qtorch::Error);
}

TEST(CudaDataPath, LoaderOnADeviceResidentDataSetGivesTheCpuBatches) {
  QTORCH_REQUIRE_CUDA();
  data::Dataset d{random_cpu({301, 1, 4, 4}, 2), random_cpu({301}, 3, 0.0f, 10.0f), 10};
  const data::Dataset on_gpu = d.to(kGpu);
  for (bool shuffle : {true, false})
    for (int64_t shards : {1, 2}) {
      data::DataLoader host(d, {.batch_size = 32, .shuffle = shuffle, .seed = 9, .device = kGpu, .shard = shards - 1,
                                .shards = shards});
      data::DataLoader device(on_gpu, {.batch_size = 32, .shuffle = shuffle, .seed = 9, .device = kGpu,
                                       .shard = shards - 1, .shards = shards});
      for (int64_t epoch : {0, 1}) {
        host.reset(epoch);
        device.reset(epoch);
        data::Batch a, b;
        while (host.next(a)) {
          ASSERT_TRUE(device.next(b));
          EXPECT_EQ(b.images.device(), kGpu);
          expect_same_bits(a.images.cpu(), b.images.cpu(), "images of batch " + std::to_string(a.index));
          expect_same_bits(a.labels.cpu(), b.labels.cpu(), "labels of batch " + std::to_string(a.index));
        }
        EXPECT_FALSE(device.next(b));
      }
    }
}

}  // namespace
}  // namespace qtorch::parity
