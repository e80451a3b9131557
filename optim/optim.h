// Everything in optim/: optimizers, schedules, OptimLP, loss scaling, SWA, checkpoints.
#pragma once

#include "qtorch/optim/adam.h"
#include "qtorch/optim/checkpoint.h"
#include "qtorch/optim/loss_scaler.h"
#include "qtorch/optim/optim_lp.h"
#include "qtorch/optim/optimizer.h"
#include "qtorch/optim/quant_fn.h"
#include "qtorch/optim/scheduler.h"
#include "qtorch/optim/sgd.h"
#include "qtorch/optim/swa.h"
