// Binds a number format and a rounding mode into the Tensor -> Tensor function that
// OptimLP takes: OptimLP(sgd, optim::quant_fn(FixedPoint{8, 6}, Rounding::Stochastic)).
#pragma once

#include "qtorch/optim/optim_lp.h"
#include "qtorch/quant/quantize.h"

namespace qtorch::optim {

/// x -> quant::quantize(x, number, rounding), validating the format now.
inline QuantFn quant_fn(const Number& number,
                        Rounding rounding = Rounding::Stochastic) {
  validate(number);
  return [number, rounding](const Tensor& x) { return quant::quantize(x, number, rounding); };
}

}  // namespace qtorch::optim
