// The number of CPU threads used by kernels and BLAS.
#pragma once

namespace qtorch {

/// Sets the threads used by CPU kernels (OpenMP) and BLAS; n >= 1. OpenMP's count is the
/// calling thread's (a std::thread started later begins with OpenMP's default, the
/// OMP_NUM_THREADS variable or the core count: call it there too); BLAS's is the process's.
/// Results do not depend on it.
void set_num_threads(int n);
/// The calling thread's OpenMP thread count.
int get_num_threads();

}  // namespace qtorch
