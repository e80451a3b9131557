#!/usr/bin/env python3
"""An independent PyTorch re-implementation of qrepro parts 1b (LeNet) and 3a, and of the
docs/benchmarks.md fp32 workloads, to check qtorch's figures against a second simulator.

It shares no code with qtorch: the fixed-point quantizer below is written from docs/numerics.md
(x * 2^fl rounded, stochastic = floor(x * 2^fl + u), clamped to the word length) and the
training loops from the issue's recipes. The random streams differ from qtorch's, so compare
distributions over seeds, not single runs.

Needs PyTorch (Debian: apt-get install python3-torch; run it with /usr/bin/python3).

  pytorch_crosscheck.py 1b-lenet [--seeds 0,1,2,3] [--epochs 5]   # fp32 vs fix<16,8> stochastic
  pytorch_crosscheck.py 3a [--seeds 0,...,9]                      # softmax, fix<8,6>, SWALP average
  pytorch_crosscheck.py workload-mlp|workload-lenet [--seeds ...]  # 1 epoch fp32, lr 0.05 mom 0.9
"""
import argparse
import gzip
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load(data_dir, kind):
    with gzip.open(f"{data_dir}/{kind}-images-idx3-ubyte.gz") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            sys.exit(f"{data_dir}/{kind}-images-idx3-ubyte.gz: not an idx3 image file (magic {magic})")
        x = np.frombuffer(f.read(), dtype=np.uint8).reshape(n, 1, rows, cols).astype(np.float32) / 255.0
    with gzip.open(f"{data_dir}/{kind}-labels-idx1-ubyte.gz") as f:
        f.read(8)
        y = np.frombuffer(f.read(), dtype=np.uint8).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def fixed_quantize(x, wl, fl, stochastic):
    scaled = x * 2.0**fl
    q = torch.floor(scaled + torch.rand_like(x)) if stochastic else torch.round(scaled)
    return torch.clamp(q, -(2.0 ** (wl - 1)), 2.0 ** (wl - 1) - 1) / 2.0**fl


class QuantizeForwardBackward(torch.autograd.Function):
    """A after a layer on the forward pass, E on its gradient on the backward pass."""

    @staticmethod
    def forward(ctx, x, fmt):
        ctx.fmt = fmt
        return fixed_quantize(x, *fmt)

    @staticmethod
    def backward(ctx, g):
        return fixed_quantize(g, *ctx.fmt), None


class Quant(nn.Module):
    def __init__(self, fmt):
        super().__init__()
        self.fmt = fmt

    def forward(self, x):
        return QuantizeForwardBackward.apply(x, self.fmt) if self.fmt else x


def lenet(fmt=None):
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), Quant(fmt), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), Quant(fmt), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), Quant(fmt), nn.ReLU(), nn.Linear(120, 84), Quant(fmt), nn.ReLU(),
        nn.Linear(84, 10), Quant(fmt))


def mlp_workload():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        correct = sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item() for i in range(0, len(x), 1000))
    model.train()
    return 100.0 * correct / len(x)


def mean_loss(model, x, y):
    with torch.no_grad():
        total = sum(F.cross_entropy(model(x[i:i + 5000]), y[i:i + 5000], reduction="sum").item()
                    for i in range(0, len(x), 5000))
    return total / len(x)


def train(model, xtr, ytr, seed, lr, epochs, momentum=0.0, weight_fmt=None, grad_fmt=None, after_step=None,
          after_epoch=None):
    """SGD, batch 128, reshuffled every epoch; OptimLP-style: grad_fmt (G) quantizes the gradient
    before the step, weight_fmt (W) the weights after it and the initial weights."""
    params = list(model.parameters())
    if weight_fmt:
        with torch.no_grad():
            for p in params:
                p.copy_(fixed_quantize(p, *weight_fmt))
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum)
    order = torch.Generator()
    order.manual_seed(seed)
    step = 0
    for epoch in range(epochs):
        perm = torch.randperm(len(xtr), generator=order)
        for i in range(0, len(xtr), 128):
            idx = perm[i:i + 128]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            if grad_fmt:
                for p in params:
                    p.grad.copy_(fixed_quantize(p.grad, *grad_fmt))
            opt.step()
            if weight_fmt:
                with torch.no_grad():
                    for p in params:
                        p.copy_(fixed_quantize(p, *weight_fmt))
            if after_step:
                after_step(step)
            step += 1
        if after_epoch:
            after_epoch(epoch)


def part_1b_lenet(seed, epochs, data):
    xtr, ytr, xte, yte = data
    out = {}
    for name, fmt in (("fp32", None), ("fix16 stochastic", (16, 8, True))):
        torch.manual_seed(seed)
        model = lenet(fmt)
        accs = []
        train(model, xtr, ytr, seed, 0.1, epochs, weight_fmt=fmt, grad_fmt=fmt,
              after_epoch=lambda epoch: accs.append(accuracy(model, xte, yte)))
        out[name] = accs
    return {"fp32 acc": out["fp32"][-1], "stochastic acc": out["fix16 stochastic"][-1],
            "vs fp32": out["fix16 stochastic"][-1] - out["fp32"][-1]}


def part_3a(seed, data):
    xtr, ytr, xte, yte = data
    xtr, xte = xtr * 2 - 1, xte * 2 - 1  # pixels in [-1, 1], as qrepro's part 3a
    steps_per_epoch = (len(xtr) + 127) // 128
    out = {}
    for name, fmt in (("fp32", None), ("fix<8,6>", (8, 6, True))):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
        params = list(model.parameters())
        avg, count = [torch.zeros_like(p) for p in params], [0]

        def average(step):  # every 10 steps from the start of epoch 6
            first = 5 * steps_per_epoch
            if step >= first and (step - first) % 10 == 0:
                count[0] += 1
                with torch.no_grad():
                    for a, p in zip(avg, params):
                        a += (p - a) / count[0]

        train(model, xtr, ytr, seed, 0.1, 10, weight_fmt=fmt, after_step=average)  # W only
        out[name + " iterate loss"] = mean_loss(model, xtr, ytr)
        out[name + " iterate acc"] = accuracy(model, xte, yte)
        with torch.no_grad():
            for a, p in zip(avg, params):
                p.copy_(a)
        out[name + " average loss"] = mean_loss(model, xtr, ytr)
        out[name + " average acc"] = accuracy(model, xte, yte)
    return out


def workload(seed, kind, data):
    xtr, ytr, xte, yte = data
    torch.manual_seed(seed)
    model = lenet() if kind == "lenet" else mlp_workload()
    train(model, xtr, ytr, seed, 0.05, 1, momentum=0.9)
    return {"acc": accuracy(model, xte, yte)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["1b-lenet", "3a", "workload-mlp", "workload-lenet"])
    ap.add_argument("--seeds", default="0,1,2,3")
    ap.add_argument("--epochs", type=int, default=5, help="1b-lenet only")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    data = (*load(a.data, "train"), *load(a.data, "t10k"))
    rows = []
    for seed in (int(s) for s in a.seeds.split(",")):
        t0 = time.time()
        if a.what == "1b-lenet":
            r = part_1b_lenet(seed, a.epochs, data)
        elif a.what == "3a":
            r = part_3a(seed, data)
        else:
            r = workload(seed, a.what.split("-")[1], data)
        rows.append(r)
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in r.items()) + f" ({time.time() - t0:.1f} s)",
              flush=True)
    print("mean: " + ", ".join(f"{k} {statistics.mean(r[k] for r in rows):.4f}" for k in rows[0]))


if __name__ == "__main__":
    main()
