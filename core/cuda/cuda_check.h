// QTORCH_CUDA_CHECK / QTORCH_CUBLAS_CHECK: turn every CUDA runtime and cuBLAS status into
// a qtorch::Error naming the failed call, file and line. Internal to core/cuda and quant/cuda.
#pragma once

// fmt 9 turns its constexpr off under nvcc, which breaks its own C++20 consteval
// format-string checks; turn it back on (include this header before core/error.h).
#if defined(__CUDACC__) && !defined(FMT_USE_CONSTEXPR)
#define FMT_USE_CONSTEXPR 1
#endif

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "qtorch/core/error.h"

namespace qtorch::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t status, const char* expr, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file,
                                     int line);

}  // namespace qtorch::cuda

#define QTORCH_CUDA_CHECK(expr)                                                        \
  do {                                                                                 \
    cudaError_t qtorch_status_ = (expr);                                               \
    if (qtorch_status_ != cudaSuccess)                                                 \
      ::qtorch::cuda::throw_cuda_error(qtorch_status_, #expr, __FILE__, __LINE__);     \
  } while (0)

#define QTORCH_CUBLAS_CHECK(expr)                                                      \
  do {                                                                                 \
    cublasStatus_t qtorch_status_ = (expr);                                            \
    if (qtorch_status_ != CUBLAS_STATUS_SUCCESS)                                       \
      ::qtorch::cuda::throw_cublas_error(qtorch_status_, #expr, __FILE__, __LINE__);   \
  } while (0)

/// Checks the launch of the kernel just queued (bad configuration, missing image).
#define QTORCH_CUDA_CHECK_LAUNCH() QTORCH_CUDA_CHECK(cudaGetLastError())
