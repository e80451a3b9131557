// Parsing of device names.
#include "qtorch/core/device.h"

#include "qtorch/core/error.h"

namespace qtorch {

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.size() <= 9 &&
      text.find_first_not_of("0123456789", 5) == std::string::npos) {
    return cuda(std::stoi(text.substr(5)));  // at most 4 digits: no overflow
  }
  QTORCH_FAIL("device: expected 'cpu', 'cuda' or 'cuda:N', got '{}'", text);
}

}  // namespace qtorch
