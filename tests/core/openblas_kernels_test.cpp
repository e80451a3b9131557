// The OpenBLAS kernels qtorch's CPU GEMM runs on: never the generic SSE3 set on a CPU with AVX2
// unless the user asked for it, and the environment left as it was found.
#include "qtorch/core/cpu/openblas_kernels.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace qtorch::cpu {
namespace {

TEST(OpenBlasKernels, FeaturesNameTheKernelsOfTheNearestKnownCpu) {
  EXPECT_EQ(kernels_for_features(true, true, true), "Cooperlake");
  EXPECT_EQ(kernels_for_features(true, true, false), "SkylakeX");
  EXPECT_EQ(kernels_for_features(true, false, false), "Haswell");
  EXPECT_EQ(kernels_for_features(false, false, false), "");
}

// On a CPU that Debian 12's OpenBLAS does not know (an Emerald Rapids, family 6 model 207), it
// picks "Prescott" by itself; qtorch then selects the kernels the features name.
TEST(OpenBlasKernels, ACpuWithAvx2NeverRunsTheGenericKernelsUnasked) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) GTEST_SKIP() << "OPENBLAS_CORETYPE is set: the user's choice";
  const std::string kernels = openblas_kernels();
  if (kernels == "unknown") GTEST_SKIP() << "the linked BLAS does not name its kernels";
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) GTEST_SKIP() << "no AVX2 and FMA";
  EXPECT_NE(kernels, "Prescott");
  EXPECT_EQ(std::getenv("OPENBLAS_CORETYPE"), nullptr) << "the environment is left as it was found";
}

}  // namespace
}  // namespace qtorch::cpu
