// A small model zoo for 28x28 single-channel images and 10 classes, in float32 (a recipe
// adds the quantizers): multilayer perceptrons, LeNet-5 and a small VGG-style CNN.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "qtorch/nn/module.h"

namespace qtorch::train::models {

// Initialisation draws from the global generator: qtorch::manual_seed first makes it
// reproducible.

/// Flatten, then Linear layers of the given widths with ReLU between them:
/// mlp({784, 256, 256, 10}); mlp({784, 10}) is softmax regression.
nn::ModulePtr mlp(const std::vector<int64_t>& widths);
/// LeNet-5: conv5 (pad 2) 1->6, ReLU, pool, conv5 6->16, ReLU, pool, 400-120-84-10.
nn::ModulePtr lenet();
/// VGG-style: 3x3 conv-BN-ReLU blocks of 32, 32 | 64, 64 | 128 channels, each stage halved
/// by max pooling (28 -> 14 -> 7 -> 3), then 1152-256-10.
nn::ModulePtr vgg_small();
/// By name: "mlp" (784-256-256-10), "lenet" or "cnn" (vgg_small); throws qtorch::Error
/// naming `what` for another name.
nn::ModulePtr by_name(const std::string& name, const std::string& what = "model");

}  // namespace qtorch::train::models
