// Fuzzes the number-format, rounding and multiply-accumulate parsers (quant/number.h,
// quant/rounding.h, quant/mac.h): only qtorch::Error may escape them, and every accepted
// value reads back from its text: parse_number(number_text(parse_number(t))) ==
// parse_number(t); likewise for roundings and MacOptions.
#include <cstdint>
#include <string>
#include <string_view>

#include "qtorch/core/error.h"
#include "qtorch/quant/mac.h"
#include "qtorch/quant/number.h"
#include "qtorch/quant/rounding.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  using qtorch_fuzz::require;

  std::optional<qtorch::Number> number;
  bool accepted = false;
  try {
    number = qtorch::parse_number(text);
    accepted = true;
  } catch (const qtorch::Error&) {
  }
  if (accepted) {
    std::string written = qtorch::number_text(number);
    std::optional<qtorch::Number> again;
    try {
      again = qtorch::parse_number(written);
    } catch (const qtorch::Error& e) {
      require(false, "parse_number rejects number_text's '" + written + "': " + e.what());
    }
    require(again == number, "parse_number(number_text(n)) != n for '" + written + "'");
    require(qtorch::number_text(again) == written, "number_text is not stable for '" + written + "'");
  }

  try {
    qtorch::Rounding rounding = qtorch::parse_rounding(text);
    std::string written = qtorch::to_string(rounding);
    qtorch::Rounding again{};
    try {
      again = qtorch::parse_rounding(written);
    } catch (const qtorch::Error& e) {
      require(false, "parse_rounding rejects to_string's '" + written + "': " + e.what());
    }
    require(again == rounding, "parse_rounding(to_string(r)) != r for '" + written + "'");
  } catch (const qtorch::Error&) {
  }

  try {
    const qtorch::quant::MacOptions mac = qtorch::quant::parse_mac(text);
    const std::string written = qtorch::quant::mac_text(mac);
    qtorch::quant::MacOptions again;
    try {
      again = qtorch::quant::parse_mac(written);
    } catch (const qtorch::Error& e) {
      require(false, "parse_mac rejects mac_text's '" + written + "': " + e.what());
    }
    require(again == mac, "parse_mac(mac_text(m)) != m for '" + written + "'");
  } catch (const qtorch::Error&) {
  }
  return 0;
}
