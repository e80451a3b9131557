// Umbrella header: everything a qtorch user needs.
#pragma once

#include "autograd/activation.h"
#include "autograd/conv.h"
#include "autograd/elementwise.h"
#include "autograd/grad_mode.h"
#include "autograd/linalg.h"
#include "autograd/loss.h"
#include "autograd/reduce.h"
#include "core/device.h"
#include "core/error.h"
#include "core/generator.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "nn/nn.h"
#include "optim/optim.h"
