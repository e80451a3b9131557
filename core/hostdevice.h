// QTORCH_HD marks functions compiled for both the host and CUDA devices.
#pragma once

#if defined(__CUDACC__)
#define QTORCH_HD __host__ __device__ __forceinline__
#else
#define QTORCH_HD inline
#endif
