// The consumer's own core/tensor.h: qtorch's headers must never pick it up.
#pragma once

namespace consumer {
struct Tensor {
  int rank = 0;
};
}  // namespace consumer

#define CONSUMER_CORE_TENSOR_H 1
