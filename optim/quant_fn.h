// Binds a number format and a rounding mode into the Tensor -> Tensor function that
// OptimLP takes: OptimLP(sgd, optim::quant_fn(FixedPoint{8, 6}, Rounding::Stochastic)).
#pragma once

#include "qtorch/optim/optim_lp.h"
#include "qtorch/quant/quantize.h"

namespace qtorch::optim {

/// x -> quant::quantize(x, number, rounding), validating the format now; its list form is
/// quant::quantize_each_in_place (the same values, one launch per list on a GPU).
inline QuantFn quant_fn(const Number& number,
                        Rounding rounding = Rounding::Stochastic) {
  validate(number);
  return QuantFn([number, rounding](const Tensor& x) { return quant::quantize(x, number, rounding); },
                 [number, rounding](const std::vector<Tensor>& xs) {
                   quant::quantize_each_in_place(xs, number, rounding);
                 },
                 [number, rounding](const Shape& shape) { quant::make_quant_params(number, rounding, shape); });
}

}  // namespace qtorch::optim
