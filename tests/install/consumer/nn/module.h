// The consumer's own nn/module.h: qtorch's headers must never pick it up.
#pragma once

#include "core/tensor.h"

namespace consumer {
struct Module {
  Tensor weight;
};
}  // namespace consumer
