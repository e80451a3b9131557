// Opens libcublas on first use and resolves the entry points qtorch calls.
#include "qtorch/core/cuda/cublas_api.h"

#include <dlfcn.h>

#include <string>

#include "qtorch/core/error.h"

namespace qtorch::cuda {
namespace {

// The exported name of a cuBLAS function after cublas_v2.h's renaming macros
// (cublasCreate is cublasCreate_v2).
#define QTORCH_CUBLAS_NAME2(x) #x
#define QTORCH_CUBLAS_NAME(x) QTORCH_CUBLAS_NAME2(x)

template <class F>
void resolve(void* library, const char* name, const std::string& path, F& out) {
  out = reinterpret_cast<F>(dlsym(library, name));
  QTORCH_CHECK(out != nullptr, "cuda: {} has no function {}: expected the cuBLAS of CUDA {}", path,
               name, CUBLAS_VER_MAJOR);
}

CublasApi open_cublas() {
  const std::string name = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  std::string path = name;
  void* library = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  std::string first_error = library ? "" : dlerror();
#ifdef QTORCH_CUDA_LIBRARY_DIR
  if (library == nullptr) {
    path = std::string(QTORCH_CUDA_LIBRARY_DIR) + "/" + name;
    library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  }
#endif
  QTORCH_CHECK(library != nullptr,
               "cuda: cannot open cuBLAS ({}): {}; install the CUDA Toolkit's cuBLAS or add its "
               "directory to LD_LIBRARY_PATH",
               name, first_error);
  CublasApi api{};
  resolve(library, QTORCH_CUBLAS_NAME(cublasCreate), path, api.create);
  resolve(library, QTORCH_CUBLAS_NAME(cublasSetStream), path, api.set_stream);
  resolve(library, QTORCH_CUBLAS_NAME(cublasSgemm), path, api.sgemm);
  resolve(library, QTORCH_CUBLAS_NAME(cublasSgemmStridedBatched), path, api.sgemm_strided_batched);
  resolve(library, QTORCH_CUBLAS_NAME(cublasGetStatusName), path, api.status_name);
  resolve(library, QTORCH_CUBLAS_NAME(cublasGetStatusString), path, api.status_string);
  return api;  // the library stays open for the process lifetime
}

}  // namespace

const CublasApi& cublas_api() {
  static const CublasApi api = open_cublas();
  return api;
}

}  // namespace qtorch::cuda
