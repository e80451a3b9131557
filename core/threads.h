// The number of CPU threads used by kernels and BLAS.
#pragma once

namespace qtorch {

/// Sets the threads used by CPU kernels (OpenMP) and BLAS; n >= 1.
void set_num_threads(int n);
int get_num_threads();

}  // namespace qtorch
