// Weight initialisation as in PyTorch's torch.nn.init, drawing from the global seeded
// generator (qtorch::manual_seed makes it reproducible). Each fills a tensor in place.
#pragma once

#include <cstdint>
#include <utility>

#include "qtorch/core/tensor.h"

namespace qtorch::nn::init {

enum class Nonlinearity { Linear, Sigmoid, Tanh, ReLU, LeakyReLU };
enum class FanMode { FanIn, FanOut };

/// The recommended gain for a nonlinearity (PyTorch's calculate_gain); `param` is the
/// negative slope of LeakyReLU.
double calculate_gain(Nonlinearity nonlinearity, double param = 0.01);
/// {fan_in, fan_out} of a weight of at least 2 dimensions: [out, in, *kernel].
std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& weight);

/// Uniform on [a, b).
void uniform_(const Tensor& t, double a, double b);
void normal_(const Tensor& t, double mean = 0.0, double std = 1.0);
void constant_(const Tensor& t, double value);
void zeros_(const Tensor& t);
void ones_(const Tensor& t);
/// U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).
void xavier_uniform_(const Tensor& t, double gain = 1.0);
/// N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).
void xavier_normal_(const Tensor& t, double gain = 1.0);
/// U(-b, b) with b = gain(a) * sqrt(3 / fan). PyTorch's Linear/Conv default is a = sqrt(5).
void kaiming_uniform_(const Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                      Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);
/// N(0, std^2) with std = gain(a) / sqrt(fan).
void kaiming_normal_(const Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                     Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);

/// PyTorch's default for Linear and Conv2d: weight kaiming_uniform_(a = sqrt(5)), i.e.
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and bias (when defined) on the same interval.
void default_layer_init_(const Tensor& weight, const Tensor& bias);

}  // namespace qtorch::nn::init
