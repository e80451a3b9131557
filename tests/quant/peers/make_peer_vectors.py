#!/usr/bin/env python3
"""Writes tests/quant/peers/peer_vectors.bin: inputs and the outputs of the two reference
programs that docs/numerics.md names, run on them, for tests/quant/peer_vectors_test.cpp.

- Microsoft's microxcaling emulator (`mx.mx_ops._quantize_mx`, scale_bits 8): every MX
  element type with the rounding modes it has ("nearest" = ties away, "even", "floor").
- QPyTorch's CPU extension (`qtorch.quant`): fixed point, floating point and block
  floating point with "nearest" (its stochastic rounding draws from std::mt19937 seeded by
  std::random_device, which no one can reproduce).
- PyTorch's float16 and bfloat16 casts, which the IEEE presets fp16 and bf16 with
  NearestEven must equal.

Nothing here computes an expected value: every output is the reference program's own.
What this script adds is a flag per element where the reference's float32 arithmetic is
known to differ from the exact rounding that docs/numerics.md demands, found by watching
that arithmetic (not by comparing with qtorch):
  1  microxcaling: torch.log2 of the block's largest magnitude floored to another binade
     than its float32 exponent field (the spec reads the field);
  2  microxcaling: the same for an element's private exponent;
  3  the reference adds before it rounds, in float32, and that addition rounds so that
     the rounding after it lands elsewhere than a single rounding of the exact sum would:
     a double rounding (microxcaling floor(|a| + 0.5); QPyTorch fixed point
     nearbyint(a + 0.5f - 0.5); QPyTorch block x + 6 * 2^E; QPyTorch float's subnormal
     path x + 2^emin). Each check runs the reference's step twice, on the float32 sum and
     on the exact one (Python fractions), and flags the element where the two differ.
The test demands qtorch's bits wherever the flag is 0, and reports the flagged counts.

Run it with Debian's PyTorch and snapshots of the two repositories:
  apt-get install python3-torch libtorch-dev ninja-build python3-packaging
  /usr/bin/python3 tests/quant/peers/make_peer_vectors.py MICROXCALING_DIR QPYTORCH_DIR
(QPyTorch compiles its CPU extension on first import.)

File format (little-endian): text lines up to and including "end\\n", then binary data:
  input NAME ROWS COLS             -> ROWS*COLS float32
  case PEER NUMBER ROUNDING INPUT  -> n float32 outputs, then n uint8 flags
in the order the lines appear. NUMBER and ROUNDING are qtorch's text forms
(quant::parse_number, parse_rounding).
"""
import math
import os
from fractions import Fraction
import struct
import subprocess
import sys

import numpy as np
import torch

SEED = 20261206
ROWS, COLS = 32, 64


def git_head(path):
    try:
        return subprocess.check_output(["git", "-C", path, "rev-parse", "HEAD"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def exponent_field(x):
    """floor(log2 |x|) of nonzero float32 values, exactly (numpy frexp: x = m 2^e, m in [0.5, 1))."""
    _, e = np.frexp(np.abs(x).astype(np.float64))
    return (e - 1).astype(np.int64)


def mx_input(rng):
    """Blocks of 32 along each row, each of one kind (scales from float32's subnormals to
    2^126, ties of every element grid, zeros of both signs, maxima just under a power of
    two, one large element over tiny ones)."""
    x = np.zeros((ROWS, COLS), dtype=np.float32)
    for r in range(ROWS):
        for b in range(COLS // 32):
            kind = (2 * r + b) % 9
            n = 32
            if kind == 0:
                v = rng.standard_normal(n) * 2.0 ** rng.integers(-20, 21)
            elif kind == 1:
                v = rng.standard_normal(n) * 2.0 ** rng.integers(-140, -119)
            elif kind == 2:
                v = rng.standard_normal(n) * 2.0 ** rng.integers(100, 125)
            elif kind == 3:  # small dyadic rationals: exact ties of every element grid
                v = rng.integers(-96, 97, n) / 16.0 * 2.0 ** rng.integers(-8, 9)
            elif kind == 4:
                v = np.where(rng.random(n) < 0.5, -0.0, 0.0)
            elif kind == 5:
                v = rng.standard_normal(n) * 2.0 ** -30
                v[rng.integers(0, n)] = rng.choice([-1.0, 1.0]) * 2.0 ** rng.integers(-4, 5)
            elif kind == 6:
                k = rng.integers(-10, 11)
                v = rng.uniform(-1, 1, n) * 2.0 ** k
                v[rng.integers(0, n)] = (1 - 2.0 ** -24) * 2.0 ** (k + 1)
            elif kind == 7:
                v = rng.uniform(-1, 1, n) * 2.0 ** rng.integers(-3, 4)
                v[rng.integers(0, n, 4)] = 2.0 ** rng.integers(-6, 2, 4)
            else:  # float32 subnormals only
                v = rng.integers(-(1 << 23), 1 << 23, n).astype(np.float64) * 2.0 ** -149
            x[r, 32 * b:32 * b + 32] = v.astype(np.float32)
    return x


def qpytorch_input(rng):
    """One binade range per row (2^-30 to 2^30), with dyadic ties, powers of two, values
    in every float format's subnormal range, and signed zeros."""
    x = np.zeros((ROWS, COLS), dtype=np.float32)
    for r in range(ROWS):
        k = int(rng.integers(-30, 31)) if r % 4 else int(rng.integers(-3, 4))
        v = rng.standard_normal(COLS) * 2.0 ** k
        v[0:8] = rng.integers(-64, 65, 8) / 8.0 * 2.0 ** rng.integers(-6, 4)
        v[8:12] = 2.0 ** rng.integers(-20, 8, 4) * rng.choice([-1.0, 1.0], 4)
        v[12:16] = rng.standard_normal(4) * 2.0 ** rng.integers(-140, -4, 4)
        v[16] = -0.0
        v[17] = 0.0
        x[r] = v.astype(np.float32)
    return x


def f32_sum(a, b):
    """The float32 sum of two float32 values, as numpy computes it."""
    return Fraction(float(np.float32(a) + np.float32(b)))


def floor_changed(a, b, step, half=0):
    """The reference computes floor((fl32(a + b) + half) / step); True where the float32
    addition makes that differ from the same on the exact sum a + b."""
    exact = Fraction(float(a)) + Fraction(float(b))
    return math.floor((f32_sum(a, b) + half) / step) != math.floor((exact + half) / step)


def rne(q):
    """q rounded to the nearest integer, ties to even (C nearbyint)."""
    f = math.floor(q)
    d = q - f
    return f + (1 if d > Fraction(1, 2) or (d == Fraction(1, 2) and f % 2) else 0)


class Log2Watch:
    """Wraps torch.log2 and records every finite positive argument whose floored log2 is not
    its float32 exponent field."""

    def __init__(self):
        self.wrong = set()
        self.real = torch.log2

    def __call__(self, t, *args, **kwargs):
        out = self.real(t, *args, **kwargs)
        a = t.detach().reshape(-1).numpy().astype(np.float32)
        f = np.floor(out.detach().reshape(-1).numpy())
        ok = np.isfinite(a) & (a > 0)
        e = np.zeros_like(a, dtype=np.int64)
        e[ok] = exponent_field(a[ok])
        for i in np.nonzero(ok & (f != e))[0]:
            self.wrong.add(float(a[i]))
        return out


ELEMENTS = {  # microxcaling name: (qtorch element, emax, emin, mantissa bits)
    "fp8_e4m3": ("e4m3", 8, -6, 3),
    "fp8_e5m2": ("e5m2", 15, -14, 2),
    "fp6_e3m2": ("e3m2", 4, -2, 2),
    "fp6_e2m3": ("e2m3", 2, 0, 3),
    "fp4_e2m1": ("e2m1", 2, 0, 1),
    "int8": ("int8", 0, None, 6),
}
MX_ROUNDING = {"nearest": "nearest", "even": "nearest_even", "floor": "toward_zero"}


def block_slices(shape, block, axis):
    rows, cols = shape
    if axis == 1:
        for r in range(rows):
            for c in range(0, cols, block):
                yield (r, slice(c, min(c + block, cols)))
    else:
        for c in range(cols):
            for r in range(0, rows, block):
                yield (slice(r, min(r + block, rows)), c)


def mx_flags(x, elem, block, axis, rounding, watch):
    _, emax, emin, man = ELEMENTS[elem]
    flags = np.zeros(x.shape, dtype=np.uint8)
    for sl in block_slices(x.shape, block, axis):
        a = x[sl].astype(np.float64)
        amax = np.max(np.abs(a))
        if amax == 0:
            continue
        if float(np.float32(amax)) in watch.wrong:
            flags[sl] = 1
            continue
        shared = max(int(exponent_field(np.array([amax]))[0]) - emax, -127)
        v = a / 2.0 ** shared
        f = np.zeros(v.shape, dtype=np.uint8)
        for i, vi in enumerate(v):
            if vi == 0:
                continue
            if emin is not None:
                if float(np.float32(abs(vi))) in watch.wrong:
                    f[i] = 2
                    continue
                p = max(int(exponent_field(np.array([vi]))[0]), emin)
            else:
                p = 0  # int8: a fixed step of 2^-6
            scaled = np.float32(abs(vi) / 2.0 ** p * 2.0 ** man)  # exact: a power-of-two scaling
            if rounding != "floor" and floor_changed(scaled, 0.5, 1):
                f[i] = 3
        flags[sl] = f
    return flags


def run_microxcaling(path, x, out):
    sys.path.insert(0, path)
    from mx.mx_ops import _quantize_mx

    for elem in ELEMENTS:
        for block, axis in ((32, 1), (16, 0), (7, 1)):
            for rounding in MX_ROUNDING:
                watch = Log2Watch()
                torch.log2 = watch
                try:
                    y = _quantize_mx(torch.from_numpy(x.copy()), 8, elem, axes=[axis],
                                     block_size=block, round=rounding).numpy()
                finally:
                    torch.log2 = watch.real
                name = ELEMENTS[elem][0]
                number = f"mx:{name}:{block}" + (":0" if axis == 0 else "")
                out.append(("microxcaling", number, MX_ROUNDING[rounding], "mx",
                            y.astype(np.float32), mx_flags(x, elem, block, axis, rounding, watch)))


def run_qpytorch(path, x, out):
    sys.path.insert(0, path)
    from qtorch.quant import block_quantize, fixed_point_quantize, float_quantize

    t = torch.from_numpy(x.copy())
    for wl, fl, clamp in ((8, 6, True), (8, 4, True), (4, 2, True), (16, 8, True),
                          (12, 12, True), (8, 6, False), (24, 20, False)):
        y = fixed_point_quantize(t, wl, fl, clamp=clamp, rounding="nearest").numpy()
        # nearbyint(fl32(a + 0.5f) - 0.5) against nearbyint(a); a = x 2^fl is exact in float32.
        flags = np.array([3 if rne(f32_sum(a, 0.5) - Fraction(1, 2)) != rne(Fraction(float(a))) else 0
                          for a in (x.astype(np.float64) * 2.0 ** fl).astype(np.float32).reshape(-1)],
                         dtype=np.uint8).reshape(x.shape)
        out.append(("qpytorch", f"fixed:{wl}:{fl}" + ("" if clamp else ":noclamp"), "nearest",
                    "qpytorch", y, flags))
    for exp, man in ((5, 2), (4, 3), (5, 10), (8, 7), (3, 2), (2, 1), (6, 9), (8, 0), (4, 0)):
        y = float_quantize(t, exp, man, rounding="nearest").numpy()
        # The subnormal path rounds fl32(|x| + 2^emin) to a step of 2^(emin - man), ties up.
        emin = 2 - 2 ** (exp - 1)
        step = Fraction(2) ** (emin - man)
        flags = np.array([3 if a != 0 and exponent_field(np.array([a]))[0] < emin
                          and floor_changed(abs(a), 2.0 ** emin, step, step / 2) else 0
                          for a in x.reshape(-1)], dtype=np.uint8).reshape(x.shape)
        out.append(("qpytorch", f"float:{exp}:{man}", "nearest", "qpytorch", y, flags))
    for wl in (4, 8, 16):
        for dim in (-1, 0, 1):
            y = block_quantize(t, wl, dim=dim, rounding="nearest").numpy()
            # fl32(x + 6 2^E) rounded to a step of 2^(E + 2 - wl), ties up (the sum is positive).
            m = np.abs(x.astype(np.float64))
            amax = m.max() * np.ones_like(m) if dim == -1 else m.max(axis=1 - dim, keepdims=True) * np.ones_like(m)
            e = exponent_field(amax)
            flags = np.zeros(x.shape, dtype=np.uint8)
            for i in np.ndindex(x.shape):
                step = Fraction(2) ** int(e[i] + 2 - wl)
                if floor_changed(x[i], 6.0 * 2.0 ** int(e[i]), step, step / 2):
                    flags[i] = 3
            out.append(("qpytorch", f"block:{wl}:{dim}", "nearest", "qpytorch", y, flags))


def run_torch_casts(inputs, out):
    for name, x in inputs.items():
        t = torch.from_numpy(x.copy())
        out.append(("torch", "fp16", "nearest_even", name, t.half().float().numpy(), np.zeros(x.shape, np.uint8)))
        out.append(("torch", "bf16", "nearest_even", name, t.bfloat16().float().numpy(), np.zeros(x.shape, np.uint8)))


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    mx_path, qpt_path = (os.path.abspath(p) for p in sys.argv[1:])
    rng = np.random.default_rng(SEED)
    inputs = {"mx": mx_input(rng), "qpytorch": qpytorch_input(rng)}
    cases = []
    run_microxcaling(mx_path, inputs["mx"], cases)
    run_qpytorch(qpt_path, inputs["qpytorch"], cases)
    run_torch_casts(inputs, cases)

    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer_vectors.bin")
    header = [
        "qtorch peer vectors 1",
        f"# microxcaling {git_head(mx_path)}, QPyTorch {git_head(qpt_path)}, "
        f"torch {torch.__version__}, numpy seed {SEED}",
    ]
    for name, x in inputs.items():
        header.append(f"input {name} {x.shape[0]} {x.shape[1]}")
    for peer, number, rounding, input_name, _, _ in cases:
        header.append(f"case {peer} {number} {rounding} {input_name}")
    header.append("end")
    tmp = target + ".tmp"
    with open(tmp, "wb") as f:
        f.write(("\n".join(header) + "\n").encode())
        for x in inputs.values():
            f.write(x.astype("<f4").tobytes())
        for _, _, _, _, y, flags in cases:
            f.write(y.astype("<f4").tobytes())
            f.write(flags.astype(np.uint8).tobytes())
    os.replace(tmp, target)
    flagged = sum(int(np.count_nonzero(c[5])) for c in cases)
    print(f"{target}: {len(cases)} cases, {flagged} flagged elements of {len(cases) * ROWS * COLS}")


if __name__ == "__main__":
    main()
