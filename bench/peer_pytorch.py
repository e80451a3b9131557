# The PyTorch side of bench/peer_pytorch.sh: qtrain's CPU workloads (docs/benchmarks.md) in
# PyTorch, timed as qtrain times an epoch (the training loop with host-side batching, no
# evaluation). Prints one line per epoch: "epoch N seconds S".
# Usage: python3 bench/peer_pytorch.py --model mlp|lenet [--epochs N] [--threads T] [--data-dir D]
import argparse
import gzip
import os
import sys
import time

import torch
import torch.nn as nn


def load_images(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        raw = f.read()
    n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    pixels = torch.frombuffer(bytearray(raw[16:]), dtype=torch.uint8)
    return pixels.view(n, 1, rows, cols).float().div_(255.0)


def load_labels(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        raw = f.read()
    return torch.frombuffer(bytearray(raw[8:]), dtype=torch.uint8).long()


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    sys.exit(f"peer_pytorch.py: no {stem}[.gz] in {data_dir}")


def model_by_name(name):
    if name == "mlp":  # qtrain --model mlp
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                             nn.Linear(256, 10))
    if name == "lenet":  # qtrain --model lenet
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    sys.exit(f"peer_pytorch.py: --model: expected mlp or lenet, got '{name}'")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    images = load_images(find(a.data_dir, "train-images-idx3-ubyte"))
    labels = load_labels(find(a.data_dir, "train-labels-idx1-ubyte"))
    model = model_by_name(a.model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    n = images.shape[0]
    for epoch in range(1, a.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(n)
        correct = 0
        for start in range(0, n, a.batch_size):
            idx = order[start:start + a.batch_size]
            x, y = images[idx], labels[idx]  # host-side batching, as qtrain's DataLoader
            opt.zero_grad()
            logits = model(x)
            loss = loss_fn(logits, y)
            loss.backward()
            opt.step()
            correct += int((logits.argmax(1) == y).sum())
        seconds = time.perf_counter() - t0
        print(f"epoch {epoch} seconds {seconds:.4f} train_accuracy {correct / n:.4f}", flush=True)


if __name__ == "__main__":
    main()
