// Fuzzes the recipe text parser (train/recipe.h): only qtorch::Error may escape it, and
// every accepted recipe reads back from its text: parse_recipe(to_string(r)) == r.
#include <cstdint>
#include <string>

#include "qtorch/core/error.h"
#include "qtorch/train/recipe.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  using qtorch_fuzz::require;
  qtorch::train::Recipe recipe;
  try {
    recipe = qtorch::train::parse_recipe(text);
  } catch (const qtorch::Error&) {
    return 0;
  }
  std::string written = qtorch::train::to_string(recipe);
  qtorch::train::Recipe again;
  try {
    again = qtorch::train::parse_recipe(written);
  } catch (const qtorch::Error& e) {
    require(false, "parse_recipe rejects to_string's '" + written + "': " + e.what());
  }
  require(again == recipe, "parse_recipe(to_string(r)) != r for '" + written + "'");
  require(qtorch::train::to_string(again) == written, "to_string is not stable for '" + written + "'");
  return 0;
}
