// Model builders, as nn::Sequential chains.
#include "examples/qtrain/models.h"

#include <stdexcept>

#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/pooling.h"
#include "nn/sequential.h"

namespace qtrain {
namespace {

namespace nn = qtorch::nn;
using std::make_shared;

nn::ModulePtr relu() { return make_shared<nn::ReLU>(); }
nn::ModulePtr pool() { return make_shared<nn::MaxPool2d>(2); }

// Appends 3x3 convolution (no bias: batch norm follows), batch norm and ReLU.
void conv_bn_relu(nn::Sequential& net, int64_t in, int64_t out) {
  net.push_back(make_shared<nn::Conv2d>(in, out, 3, nn::Conv2dOptions{.padding = 1, .bias = false}));
  net.push_back(make_shared<nn::BatchNorm2d>(out));
  net.push_back(relu());
}

nn::ModulePtr mlp() {
  return nn::sequential({make_shared<nn::Flatten>(), make_shared<nn::Linear>(784, 256), relu(),
                         make_shared<nn::Linear>(256, 256), relu(), make_shared<nn::Linear>(256, 10)});
}

// LeNet-5 of shared/BENCHMARKS.md: 28x28 -> conv5 pad 2 -> 6x28x28 -> pool -> 6x14x14
// -> conv5 -> 16x10x10 -> pool -> 16x5x5 = 400 -> 120 -> 84 -> 10.
nn::ModulePtr lenet() {
  return nn::sequential({make_shared<nn::Conv2d>(1, 6, 5, nn::Conv2dOptions{.padding = 2}), relu(),
                         pool(), make_shared<nn::Conv2d>(6, 16, 5), relu(), pool(),
                         make_shared<nn::Flatten>(), make_shared<nn::Linear>(400, 120), relu(),
                         make_shared<nn::Linear>(120, 84), relu(), make_shared<nn::Linear>(84, 10)});
}

// VGG-style: two 3x3 conv-BN-ReLU blocks of 32 and of 64 channels, one of 128, each stage
// halved by max pooling (28 -> 14 -> 7 -> 3), then 1152 -> 256 -> 10.
nn::ModulePtr cnn() {
  auto net = make_shared<nn::Sequential>();
  conv_bn_relu(*net, 1, 32);
  conv_bn_relu(*net, 32, 32);
  net->push_back(pool());
  conv_bn_relu(*net, 32, 64);
  conv_bn_relu(*net, 64, 64);
  net->push_back(pool());
  conv_bn_relu(*net, 64, 128);
  net->push_back(pool());
  net->push_back(make_shared<nn::Flatten>());
  net->push_back(make_shared<nn::Linear>(128 * 3 * 3, 256));
  net->push_back(relu());
  net->push_back(make_shared<nn::Linear>(256, 10));
  return net;
}

}  // namespace

qtorch::nn::ModulePtr build_model(const std::string& name) {
  if (name == "mlp") return mlp();
  if (name == "lenet") return lenet();
  if (name == "cnn") return cnn();
  throw std::invalid_argument("--model: expected mlp, lenet or cnn, got '" + name + "'");
}

}  // namespace qtrain
