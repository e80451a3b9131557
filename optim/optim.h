// Everything in optim/: optimizers, schedules, OptimLP, loss scaling, SWA, checkpoints.
#pragma once

#include "optim/adam.h"
#include "optim/checkpoint.h"
#include "optim/loss_scaler.h"
#include "optim/optim_lp.h"
#include "optim/optimizer.h"
#include "optim/quant_fn.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"
#include "optim/swa.h"
