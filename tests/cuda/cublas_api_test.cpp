// cuBLAS is opened on first GPU use rather than linked (core/cuda/cublas_api.h). Opening it
// needs no device, so these run on every machine of a CUDA build: the library is found,
// every entry point qtorch calls resolves under its exported (cublas_v2.h-renamed) name,
// and libqtorch.so does not depend on it.
#include <gtest/gtest.h>

#if QTORCH_WITH_CUDA
#include <link.h>

#include <cstring>
#include <string>
#include <vector>

#include "qtorch/core/cuda/cublas_api.h"

TEST(CublasApi, OpensTheLibraryAndResolvesEveryEntryPoint) {
  const qtorch::cuda::CublasApi& api = qtorch::cuda::cublas_api();
  EXPECT_NE(api.create, nullptr);
  EXPECT_NE(api.set_stream, nullptr);
  EXPECT_NE(api.sgemm, nullptr);
  EXPECT_NE(api.sgemm_strided_batched, nullptr);
  ASSERT_NE(api.status_name, nullptr);
  ASSERT_NE(api.status_string, nullptr);
  // Calls that need no device: the status tables.
  EXPECT_EQ(std::string(api.status_name(CUBLAS_STATUS_SUCCESS)), "CUBLAS_STATUS_SUCCESS");
  EXPECT_EQ(std::string(api.status_name(CUBLAS_STATUS_NOT_INITIALIZED)), "CUBLAS_STATUS_NOT_INITIALIZED");
  EXPECT_FALSE(std::string(api.status_string(CUBLAS_STATUS_INVALID_VALUE)).empty());
}

// What libqtorch.so asks the loader for (its DT_NEEDED entries), as loaded in this process.
std::vector<std::string> libqtorch_needed() {
  std::vector<std::string> needed;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        if (info->dlpi_name == nullptr || std::strstr(info->dlpi_name, "libqtorch") == nullptr) return 0;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          if (info->dlpi_phdr[i].p_type != PT_DYNAMIC) continue;
          const auto* dyn = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
          const char* strtab = nullptr;
          for (const ElfW(Dyn)* d = dyn; d->d_tag != DT_NULL; ++d)
            if (d->d_tag == DT_STRTAB) strtab = reinterpret_cast<const char*>(d->d_un.d_ptr);
          for (const ElfW(Dyn)* d = dyn; strtab && d->d_tag != DT_NULL; ++d)
            if (d->d_tag == DT_NEEDED) static_cast<std::vector<std::string>*>(out)->push_back(strtab + d->d_un.d_val);
        }
        return 1;
      },
      &needed);
  return needed;
}

TEST(CublasApi, NoCudaLibraryIsALinkDependency) {
  // A CPU-only process never maps cuBLAS (about 150 MB of resident pages with libcublasLt),
  // and loads where no CUDA library is installed: cudart is linked statically and opens the
  // driver on the first CUDA call.
  const std::vector<std::string> needed = libqtorch_needed();
  ASSERT_FALSE(needed.empty()) << "libqtorch.so not found among the loaded objects";
  for (const std::string& lib : needed) {
    EXPECT_EQ(lib.find("libcublas"), std::string::npos) << lib;
    EXPECT_EQ(lib.find("libcudart"), std::string::npos) << lib;
    EXPECT_EQ(lib.find("libcuda.so"), std::string::npos) << lib;
  }
}
#endif
