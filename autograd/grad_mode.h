// Grad mode: whether ops record the graph. NoGradGuard turns it off for a scope.
#pragma once

namespace qtorch {

/// Thread-local switch read by every differentiable op.
struct GradMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

/// Disables graph recording until destroyed (restores the previous mode).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace qtorch
