// Model builders, as nn::Sequential chains.
#include "qtorch/train/models.h"

#include "qtorch/core/error.h"
#include "qtorch/nn/activation.h"
#include "qtorch/nn/batchnorm.h"
#include "qtorch/nn/conv.h"
#include "qtorch/nn/linear.h"
#include "qtorch/nn/pooling.h"
#include "qtorch/nn/sequential.h"

namespace qtorch::train::models {
namespace {

using std::make_shared;

nn::ModulePtr relu() { return make_shared<nn::ReLU>(); }
nn::ModulePtr pool() { return make_shared<nn::MaxPool2d>(2); }

// Appends 3x3 convolution (no bias: batch norm follows), batch norm and ReLU.
void conv_bn_relu(nn::Sequential& net, int64_t in, int64_t out) {
  net.push_back(make_shared<nn::Conv2d>(in, out, 3, nn::Conv2dOptions{.padding = 1, .bias = false}));
  net.push_back(make_shared<nn::BatchNorm2d>(out));
  net.push_back(relu());
}

}  // namespace

nn::ModulePtr mlp(const std::vector<int64_t>& widths) {
  QTORCH_CHECK(widths.size() >= 2, "models::mlp: expected at least an input and an output width, got {} widths",
               widths.size());
  auto net = make_shared<nn::Sequential>();
  net->push_back(make_shared<nn::Flatten>());
  for (size_t i = 0; i + 1 < widths.size(); ++i) {
    if (i > 0) net->push_back(relu());
    net->push_back(make_shared<nn::Linear>(widths[i], widths[i + 1]));
  }
  return net;
}

nn::ModulePtr lenet() {
  return nn::sequential({make_shared<nn::Conv2d>(1, 6, 5, nn::Conv2dOptions{.padding = 2}), relu(), pool(),
                         make_shared<nn::Conv2d>(6, 16, 5), relu(), pool(), make_shared<nn::Flatten>(),
                         make_shared<nn::Linear>(400, 120), relu(), make_shared<nn::Linear>(120, 84), relu(),
                         make_shared<nn::Linear>(84, 10)});
}

nn::ModulePtr vgg_small() {
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

nn::ModulePtr by_name(const std::string& name, const std::string& what) {
  if (name == "mlp") return mlp({784, 256, 256, 10});
  if (name == "lenet") return lenet();
  if (name == "cnn") return vgg_small();
  QTORCH_FAIL("{}: expected mlp, lenet or cnn, got '{}'", what, name);
}

}  // namespace qtorch::train::models
