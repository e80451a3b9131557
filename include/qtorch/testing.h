// qtorch::testing: the public toolkit for unit-testing gradients and quantization in your
// own code, usable from any test framework (GoogleTest matchers: <qtorch/testing/gtest.h>).
// What each check guarantees: docs/testing.md.
#pragma once

#include "qtorch/testing/bits.h"
#include "qtorch/testing/compare.h"
#include "qtorch/testing/gradcheck.h"
#include "qtorch/testing/grid.h"
#include "qtorch/testing/stochastic.h"
