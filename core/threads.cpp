// Thread count shared by OpenMP kernels and OpenBLAS.
#include "qtorch/core/threads.h"

#include <omp.h>

#include "qtorch/core/error.h"

extern "C" void openblas_set_num_threads(int num_threads);

namespace qtorch {

void set_num_threads(int n) {
  QTORCH_CHECK(n >= 1, "set_num_threads: expected n >= 1, got {}", n);
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int get_num_threads() { return omp_get_max_threads(); }

}  // namespace qtorch
