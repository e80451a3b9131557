// The thread-local grad mode switch.
#include "qtorch/autograd/grad_mode.h"

namespace qtorch {
namespace {
thread_local bool grad_enabled = true;
}

bool GradMode::is_enabled() { return grad_enabled; }
void GradMode::set_enabled(bool enabled) { grad_enabled = enabled; }

}  // namespace qtorch
