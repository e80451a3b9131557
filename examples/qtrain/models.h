// The model zoo of qtrain: mlp (784-256-256-10), lenet (LeNet-5) and cnn (a small
// VGG-style net with batch norm), in float32; nn::make_low_precision adds quantizers.
#pragma once

#include <memory>
#include <string>

#include "nn/module.h"

namespace qtrain {

/// The model called `name` ("mlp", "lenet" or "cnn") for [N, 1, 28, 28] input and 10
/// classes; throws std::invalid_argument for another name. Initialisation draws from the
/// global generator, so qtorch::manual_seed first makes it reproducible.
qtorch::nn::ModulePtr build_model(const std::string& name);

}  // namespace qtrain
