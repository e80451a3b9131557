// Where a tensor's storage lives: the CPU or one CUDA device.
#pragma once

#include <string>

namespace qtorch {

enum class DeviceType { CPU, CUDA };

/// A device tag carried by every tensor; ops dispatch on it at run time.
struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device&) const = default;
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

  static Device cpu() { return {}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  /// Parses "cpu", "cuda" or "cuda:N"; throws qtorch::Error otherwise.
  static Device parse(const std::string& text);
};

/// True when this build has CUDA support and at least one GPU is visible.
bool cuda_is_available();
/// Why cuda_is_available() is false, for error messages: no CUDA support in this build, no
/// GPU, or the CUDA runtime's own error (a driver too old for the runtime, say); "" when true.
std::string cuda_unavailable_reason();

}  // namespace qtorch
