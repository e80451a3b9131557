// Everything in nn/: modules, layers, losses, initialisation and the lowering helper.
#pragma once

#include "qtorch/nn/activation.h"
#include "qtorch/nn/batchnorm.h"
#include "qtorch/nn/conv.h"
#include "qtorch/nn/init.h"
#include "qtorch/nn/linear.h"
#include "qtorch/nn/loss.h"
#include "qtorch/nn/lower.h"
#include "qtorch/nn/module.h"
#include "qtorch/nn/pooling.h"
#include "qtorch/nn/qconv2d.h"
#include "qtorch/nn/qlinear.h"
#include "qtorch/nn/sequential.h"
#include "qtorch/nn/use_mac.h"
