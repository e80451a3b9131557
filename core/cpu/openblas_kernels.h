// Which of OpenBLAS's kernel sets the CPU GEMM runs on, and the choice qtorch makes for a CPU
// that OpenBLAS does not recognise.
#pragma once

#include <string>

namespace qtorch::cpu {

// The name of the kernel set OpenBLAS runs on ("Cooperlake", "SkylakeX", "Haswell", ...), or
// "unknown" where the linked BLAS cannot say.
std::string openblas_kernels();

// The kernel set a CPU with these features gets when OpenBLAS falls back to its generic SSE3
// kernels ("Prescott") on it: "Cooperlake" with AVX-512 BF16, "SkylakeX" with AVX-512 (F, DQ,
// BW, VL), "Haswell" with AVX2 and FMA; empty where a generic kernel is the right one.
std::string kernels_for_features(bool avx2_fma, bool avx512, bool avx512_bf16);

}  // namespace qtorch::cpu
