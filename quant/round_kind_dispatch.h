// The one switch from a runtime RoundKind to a compile-time one, for the kernels that are
// instantiated per rounding mode (CPU and CUDA quantize, MX/NVFP4, qmatmul): call
// with_round_kind(kind, [&](auto k) { kernel<decltype(k)::value>(...); }).
#pragma once

#include <type_traits>

#include "qtorch/core/error.h"
#include "qtorch/quant/kernel_params.h"

namespace qtorch::quant {

template <RoundKind K>
using RoundKindConstant = std::integral_constant<RoundKind, K>;

template <class F>
void with_round_kind(RoundKind kind, F&& f) {
  switch (kind) {
    case RoundKind::Stochastic: return f(RoundKindConstant<RoundKind::Stochastic>{});
    case RoundKind::NearestAway: return f(RoundKindConstant<RoundKind::NearestAway>{});
    case RoundKind::NearestEven: return f(RoundKindConstant<RoundKind::NearestEven>{});
    case RoundKind::NearestUp: return f(RoundKindConstant<RoundKind::NearestUp>{});
    case RoundKind::TowardZero: return f(RoundKindConstant<RoundKind::TowardZero>{});
    case RoundKind::Up: return f(RoundKindConstant<RoundKind::Up>{});
    case RoundKind::Down: return f(RoundKindConstant<RoundKind::Down>{});
  }
  QTORCH_FAIL("quantize: unknown rounding kind {}", static_cast<int>(kind));
}

}  // namespace qtorch::quant
