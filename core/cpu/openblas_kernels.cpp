// OpenBLAS picks its kernels when it loads, from the CPU's family and model. Debian 12's
// OpenBLAS (0.3.21) does not know Intel models newer than its table, such as Emerald Rapids
// (family 6, model 207), and runs them on its generic SSE3 kernels ("Prescott"): an sgemm
// several times slower, with other last bits than the AVX-512 kernels it runs on their
// predecessors (Sapphire Rapids gets "Cooperlake"), so a training run on such a machine differed
// from the same run on the one before it. When OpenBLAS fell back to Prescott on a CPU with AVX2,
// and OPENBLAS_CORETYPE is not set (a value set by the user is always respected), qtorch selects
// the kernels the CPU's features name, through OpenBLAS's own OPENBLAS_CORETYPE path, when the
// library loads and before any BLAS call. The environment is left as it was found. (0.3.21 does
// not accept the name "Cooperlake"; a name it does not accept makes it choose by the CPU's
// features, which gives Cooperlake on a CPU with AVX-512 BF16.)
#include "qtorch/core/cpu/openblas_kernels.h"

#include <cstdlib>

// OpenBLAS's DYNAMIC_ARCH entry points. Weak: another BLAS may lack them, and then nothing
// is selected.
extern "C" {
char* openblas_get_corename(void) __attribute__((weak));
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));
}

namespace qtorch::cpu {

std::string openblas_kernels() {
  return openblas_get_corename != nullptr ? std::string(openblas_get_corename()) : "unknown";
}

std::string kernels_for_features(bool avx2_fma, bool avx512, bool avx512_bf16) {
  if (avx512 && avx512_bf16) return "Cooperlake";
  if (avx512) return "SkylakeX";
  if (avx2_fma) return "Haswell";
  return "";
}

namespace {

bool select_kernels_for_unknown_cpu() {
  if (openblas_get_corename == nullptr || gotoblas_dynamic_init == nullptr || gotoblas_dynamic_quit == nullptr)
    return false;
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr || openblas_kernels() != "Prescott") return false;
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  const std::string kernels = kernels_for_features(
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"), avx512, __builtin_cpu_supports("avx512bf16"));
  if (kernels.empty()) return false;
  setenv("OPENBLAS_CORETYPE", kernels.c_str(), 0);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  unsetenv("OPENBLAS_CORETYPE");
  return true;
}

// Runs when libqtorch loads, after OpenBLAS (a library it depends on) has initialised itself.
[[maybe_unused]] const bool kSelectedKernels = select_kernels_for_unknown_cpu();

}  // namespace
}  // namespace qtorch::cpu
