// cuBLAS, opened when the first GPU context is made instead of when libqtorch is loaded:
// mapping libcublas pulls in libcublasLt, which alone adds about 150 MB of resident pages
// to every process, CPU-only ones included (a CPU MLP run: 383 MB peak with it linked).
// The entry points keep cuBLAS's own prototypes, so every call is type-checked.
#pragma once

#include <cublas_v2.h>

namespace qtorch::cuda {

struct CublasApi {
  decltype(&cublasCreate) create;
  decltype(&cublasSetStream) set_stream;
  decltype(&cublasSgemm) sgemm;
  decltype(&cublasSgemmStridedBatched) sgemm_strided_batched;
  decltype(&cublasGetStatusName) status_name;
  decltype(&cublasGetStatusString) status_string;
};

/// The cuBLAS entry points, from libcublas.so.<major> (the loader's search path, then the
/// CUDA Toolkit's library directory of the build), opened once. Throws qtorch::Error
/// naming the library and the loader's message when it cannot be opened.
const CublasApi& cublas_api();

}  // namespace qtorch::cuda
