// Float32 bit patterns for test messages: the bits of a float, the float of some bits, and
// a value printed both ways ("1.5 (0x3fc00000)").
#pragma once

#include <cstdint>
#include <string>

namespace qtorch::testing {

/// The IEEE 754 binary32 bit pattern of x.
uint32_t bits_of(float x);
/// The float whose bit pattern is `bits`.
float float_of(uint32_t bits);
/// x in decimal (shortest round-trip form) and as its bits in hex: "1.5 (0x3fc00000)".
std::string describe_float(float x);

}  // namespace qtorch::testing
