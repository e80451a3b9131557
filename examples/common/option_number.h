// Numbers given on a command line: the whole text must be one integer or one finite
// number within the option's range, else one error line naming the option, what was
// expected and what was given (an empty text is not 0, "1e400" is not inf).
#pragma once

#include <cstdint>
#include <string>

namespace qtorch::examples {

/// `text` as an integer in [min, max]. Throws std::invalid_argument
/// "OPTION: expected an integer in [MIN, MAX], got 'TEXT'".
int64_t parse_integer_option(const std::string& option, const std::string& text, int64_t min,
                             int64_t max);
/// `text` as an unsigned 64-bit integer (a seed); same message with [0, 2^64 - 1].
uint64_t parse_unsigned_option(const std::string& option, const std::string& text);

/// `text` as a finite number for which `in_range` holds. Throws std::invalid_argument
/// "OPTION: expected EXPECTED, got 'TEXT'", e.g. EXPECTED = "a finite number > 0".
double parse_real_option(const std::string& option, const std::string& text, bool (*in_range)(double),
                         const std::string& expected);

}  // namespace qtorch::examples
