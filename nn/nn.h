// Everything in nn/: modules, layers, losses, initialisation and the lowering helper.
#pragma once

#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/lower.h"
#include "nn/module.h"
#include "nn/pooling.h"
#include "nn/sequential.h"
