// QTORCH_HD marks functions compiled for both the host and CUDA devices. QTORCH_HD_RARE
// marks one that a hot loop calls on a rare path: out of line on the host, so that its
// code and registers stay out of the loop (inlined on the device, where an out-of-line
// call would put its reference parameters in local memory).
// QTORCH_EXTERN_SHARED declares a kernel's dynamic shared memory (`extern __shared__` under
// nvcc; tests/support/cuda_emulation.h gives its own for kernels run on the CPU).
#pragma once

#if defined(__CUDACC__)
#define QTORCH_HD __host__ __device__ __forceinline__
#define QTORCH_HD_RARE QTORCH_HD
#define QTORCH_EXTERN_SHARED extern __shared__
#else
#define QTORCH_HD inline
#define QTORCH_HD_RARE [[gnu::noinline]] inline
#endif
