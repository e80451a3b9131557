// The histogram of floor(log2|x|) of the errors entering the error quantizers: where the
// values lie against a format's range (Micikevicius et al. 2018, Fig. 3).
#pragma once

#include <cstdint>
#include <map>

#include "qtorch/core/tensor.h"

namespace qrepro {

/// Histogram of floor(log2|x|) over finite nonzero values, plus the count of zeros.
struct Log2Histogram {
  std::map<int, int64_t> bins;
  int64_t zeros = 0;

  void add(const qtorch::Tensor& x);
  int64_t total_nonzero() const;
  /// Share of nonzero values with floor(log2|x|) < e.
  double fraction_below(int e) const;
};

}  // namespace qrepro
