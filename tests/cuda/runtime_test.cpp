// The CUDA runtime layer: availability, the caching allocator, host<->device copies,
// device mixing and CUDA failures surfacing as qtorch::Error.
#include <gtest/gtest.h>

#include <iostream>
#include <string>

#include "qtorch/core/backend.h"
#include "qtorch/core/cuda/allocator.h"
#include "qtorch/core/error.h"
#include "qtorch/core/ops.h"
#include "qtorch/qtorch.h"
#include "tests/cuda/parity.h"

using namespace qtorch;
using parity::kGpu;

TEST(CudaRuntime, BucketSizesCoverRequestsWithBoundedWaste) {
  EXPECT_EQ(cuda::bucket_size(1), 512u);
  EXPECT_EQ(cuda::bucket_size(512), 512u);
  EXPECT_EQ(cuda::bucket_size(513), 1024u);
  EXPECT_EQ(cuda::bucket_size(4096), 4096u);
  EXPECT_EQ(cuda::bucket_size(4097), 5120u);  // quarter steps of 4096
  EXPECT_EQ(cuda::bucket_size(1u << 20), 1u << 20);
  EXPECT_EQ(cuda::bucket_size((1u << 20) + 1), (1u << 20) + (1u << 18));
  size_t previous = 0;
  for (size_t bytes = 1; bytes < (size_t{1} << 26); bytes = bytes * 3 / 2 + 7) {
    size_t b = cuda::bucket_size(bytes);
    EXPECT_GE(b, bytes);
    EXPECT_LE(b, bytes + bytes / 4 + 512) << bytes;
    EXPECT_GE(b, previous) << "buckets must grow with the request";
    previous = b;
  }
}

TEST(CudaRuntime, WithoutAGpuCudaTensorsGiveAClearError) {
  if (cuda_is_available()) GTEST_SKIP() << "a GPU is visible";
  try {
    Tensor t = zeros({2, 3}, kGpu);
    FAIL() << "expected qtorch::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda"), std::string::npos) << e.what();
    std::cout << "the error: " << e.what() << "\n";  // scripts/gpu-check.sh shows it
  }
}

TEST(CudaRuntime, RoundTripIsExact) {
  QTORCH_REQUIRE_CUDA();
  Tensor x = parity::random_cpu({17, 33}, 1);
  Tensor g = x.to(kGpu);
  EXPECT_TRUE(g.device().is_cuda());
  parity::expect_same_bits(x, g.cpu(), "to(cuda).cpu()");
  // A transposed view travels as its logical values.
  parity::expect_same_bits(x.t().contiguous(), x.t().to(kGpu).cpu(), "transposed view");
  EXPECT_EQ(g.to_vector(), x.to_vector());
  EXPECT_EQ(Tensor::from_vector({3.5f}, {1}, kGpu).item(), 3.5f);
}

TEST(CudaRuntime, AllocatorReusesFreedBlocks) {
  QTORCH_REQUIRE_CUDA();
  Backend& be = backend_for(kGpu);
  float* p = be.allocate(1000, kGpu);
  ASSERT_NE(p, nullptr);
  cuda::MemoryStats before = cuda::memory_stats(0);
  be.deallocate(p);
  EXPECT_EQ(cuda::memory_stats(0).allocated, before.allocated - 4096);  // 4000 bytes -> 4096
  float* q = be.allocate(1000, kGpu);
  EXPECT_EQ(q, p) << "a freed block of the same bucket is handed out again";
  EXPECT_EQ(cuda::memory_stats(0).cuda_mallocs, before.cuda_mallocs);
  be.deallocate(q);
  cuda::empty_cache();
  EXPECT_EQ(cuda::memory_stats(0).reserved, cuda::memory_stats(0).allocated);
}

TEST(CudaRuntime, OutOfMemoryIsAQtorchError) {
  QTORCH_REQUIRE_CUDA();
  try {
    backend_for(kGpu).allocate(int64_t{1} << 42, kGpu);  // 16 TiB
    FAIL() << "expected qtorch::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out of memory"), std::string::npos) << e.what();
  }
  // The device still works afterwards.
  EXPECT_EQ(ones({4}, kGpu).to_vector(), (std::vector<float>{1, 1, 1, 1}));
}

TEST(CudaRuntime, BadDeviceIndexIsAQtorchError) {
  QTORCH_REQUIRE_CUDA();
  EXPECT_THROW(zeros({2}, Device::cuda(999)), Error);
}

TEST(CudaRuntime, MixingDevicesInOneOpIsAnError) {
  QTORCH_REQUIRE_CUDA();
  Tensor a = ones({3});
  Tensor b = ones({3}, kGpu);
  EXPECT_THROW(a + b, Error);
  EXPECT_THROW(matmul(ones({2, 2}), ones({2, 2}, kGpu)), Error);
}

TEST(CudaRuntime, OpsKeepTheirResultsOnTheGpuAndStayOrdered) {
  QTORCH_REQUIRE_CUDA();
  Tensor x = ones({1 << 20}, kGpu);
  for (int i = 0; i < 10; ++i) x = x + x;  // queued on one stream
  EXPECT_TRUE(x.device().is_cuda());
  backend_for(kGpu).synchronize();
  std::vector<float> v = x.to_vector();
  EXPECT_EQ(v.front(), 1024.0f);
  EXPECT_EQ(v.back(), 1024.0f);
}
