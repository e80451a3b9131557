// Device-side helpers of the elementwise kernels; the plans themselves are plain C++ in
// strided_plan.h.
#pragma once

#include "qtorch/core/cuda/cuda_check.h"  // first: fixes fmt under nvcc
#include "qtorch/core/cuda/strided_plan.h"
