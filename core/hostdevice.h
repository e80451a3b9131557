// QTORCH_HD marks functions compiled for both the host and CUDA devices.
// QTORCH_EXTERN_SHARED declares a kernel's dynamic shared memory (`extern __shared__` under
// nvcc; tests/support/cuda_emulation.h gives its own for kernels run on the CPU).
#pragma once

#if defined(__CUDACC__)
#define QTORCH_HD __host__ __device__ __forceinline__
#define QTORCH_EXTERN_SHARED extern __shared__
#else
#define QTORCH_HD inline
#endif
