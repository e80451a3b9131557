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
- MPTorch's CPU GEMMs (`float_mm`, `fxp_mm`, round to nearest) against quant::qmatmul.

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
  /usr/bin/python3 tests/quant/peers/make_peer_vectors.py MICROXCALING_DIR QPYTORCH_DIR MPTORCH_DIR
(QPyTorch and MPTorch compile their CPU extensions on first import; MPTorch's conv layers
want the PyPI package unfoldNd, which is not needed here and is stubbed.)

File format (little-endian): text lines up to and including "end\\n", then binary data:
  input NAME D0 D1 ...             -> D0*D1*... float32
  case PEER NUMBER ROUNDING INPUT  -> n float32 outputs, then n uint8 flags
  mac PEER OPTIONS INPUT_A INPUT_B -> M*N float32 products, then M*N uint8 flags
in the order the lines appear (inputs, then cases, then macs). NUMBER and ROUNDING are qtorch's text forms
(quant::parse_number, parse_rounding).
"""
import math
import os
from fractions import Fraction
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


def round_half_added(a):
    """QPyTorch's and MPTorch's round-to-nearest of a float32 a (their round(a, 0.5, ...)):
    nearbyint(fl32(a + 0.5f) - 0.5), the float32 sum rounded first."""
    return rne(f32_sum(a, 0.5) - Fraction(1, 2))


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


def mx_flags(x, elem, block, axis, rounding, watch):
    """Flags of an MX quantization of x in blocks of `block` along `axis` (any rank)."""
    _, emax, emin, man = ELEMENTS[elem]
    rows = np.moveaxis(x, axis, -1)
    shape = rows.shape
    rows = rows.reshape(-1, shape[-1])
    flags = np.zeros(rows.shape, dtype=np.uint8)
    for r, c in np.ndindex(rows.shape[0], (shape[-1] + block - 1) // block):
        sl = (r, slice(c * block, min(c * block + block, shape[-1])))
        a = rows[sl].astype(np.float64)
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
    return np.moveaxis(flags.reshape(shape), -1, axis)


def microxcaling_case(x, input_name, elem, block, axis, rounding, out):
    from mx.mx_ops import _quantize_mx

    watch = Log2Watch()
    torch.log2 = watch
    try:
        y = _quantize_mx(torch.from_numpy(x.copy()), 8, elem, axes=[axis], block_size=block, round=rounding).numpy()
    finally:
        torch.log2 = watch.real
    number = f"mx:{ELEMENTS[elem][0]}:{block}" + ("" if axis == x.ndim - 1 else f":{axis}")
    out.append(("microxcaling", number, MX_ROUNDING[rounding], input_name, y.astype(np.float32),
                mx_flags(x, elem, block, axis, rounding, watch)))


def run_microxcaling(path, x, x4, out):
    sys.path.insert(0, path)
    for elem in ELEMENTS:
        for block, axis in ((32, 1), (16, 0), (7, 1)):
            for rounding in MX_ROUNDING:
                microxcaling_case(x, "mx", elem, block, axis, rounding, out)
    # A 4-D tensor (an NCHW activation), blocks along each axis.
    for elem in ("fp8_e4m3", "fp4_e2m1", "int8"):
        for block, axis in ((8, 1), (4, 0), (4, 2), (3, 3)):
            for rounding in ("nearest", "even"):
                microxcaling_case(x4, "nd", elem, block, axis, rounding, out)


def qpytorch_block_flags(x, wl, dim):
    """fl32(x + 6 2^E) rounded to a step of 2^(E + 2 - wl), ties up (the sum is positive)."""
    m = np.abs(x.astype(np.float64))
    others = tuple(a for a in range(x.ndim) if a != dim)
    amax = (m.max() if dim == -1 else m.max(axis=others, keepdims=True)) * np.ones_like(m)
    e = exponent_field(amax)
    flags = np.zeros(x.shape, dtype=np.uint8)
    for i in np.ndindex(x.shape):
        step = Fraction(2) ** int(e[i] + 2 - wl)
        if floor_changed(x[i], 6.0 * 2.0 ** int(e[i]), step, step / 2):
            flags[i] = 3
    return flags


def run_qpytorch(path, x, x4, out):
    sys.path.insert(0, path)
    from qtorch.quant import block_quantize, fixed_point_quantize, float_quantize

    t = torch.from_numpy(x.copy())
    for wl, fl, clamp in ((8, 6, True), (8, 4, True), (4, 2, True), (16, 8, True),
                          (12, 12, True), (8, 6, False), (24, 20, False)):
        y = fixed_point_quantize(t, wl, fl, clamp=clamp, rounding="nearest").numpy()
        # nearbyint(fl32(a + 0.5f) - 0.5) against nearbyint(a); a = x 2^fl is exact in float32.
        flags = np.array([3 if round_half_added(a) != rne(Fraction(float(a))) else 0
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
            out.append(("qpytorch", f"block:{wl}:{dim}", "nearest", "qpytorch", y, qpytorch_block_flags(x, wl, dim)))
    t4 = torch.from_numpy(x4.copy())
    for wl in (4, 8):
        for dim in (-1, 0, 1, 2, 3):
            y = block_quantize(t4, wl, dim=dim, rounding="nearest").numpy()
            out.append(("qpytorch", f"block:{wl}:{dim}", "nearest", "nd", y, qpytorch_block_flags(x4, wl, dim)))


def run_torch_casts(inputs, out):
    for name, x in inputs.items():
        t = torch.from_numpy(x.copy())
        out.append(("torch", "fp16", "nearest_even", name, t.half().float().numpy(), np.zeros(x.shape, np.uint8)))
        out.append(("torch", "bf16", "nearest_even", name, t.bfloat16().float().numpy(), np.zeros(x.shape, np.uint8)))


# ---------------------------------------------------------------------------------------
# MPTorch's CPU GEMMs (float_mm, fxp_mm; round to nearest). Its kernel forms each product
# and each sum in float32 (fmaf for FMA) and rounds that float32 to the format, where the
# spec rounds the exact value once. A model of the kernel replays every output twice, with
# the float32 steps and with exact ones; the float32 replay must reproduce MPTorch's
# outputs bit for bit (else this script stops), and an output whose two replays differ is
# flagged 3.

def q_float(v, exp, man):
    """Round-to-nearest-even of the exact v to IEEE (exp, man) with subnormals, saturating."""
    if v == 0:
        return Fraction(0)
    emin, emax = 2 - 2 ** (exp - 1), 2 ** (exp - 1) - 1
    a = abs(v)
    e = max(math.floor(math.log2(a)), emin)
    while Fraction(2) ** e > a and e > emin:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    step = Fraction(2) ** (e - man)
    r = rne(a / step) * step
    top = (2 - Fraction(2) ** -man) * Fraction(2) ** emax
    return -min(r, top) if v < 0 else min(r, top)


def q_fixed(v, wl, fl):
    top = Fraction(2) ** (wl - fl - 1)
    r = rne(v * Fraction(2) ** fl) / Fraction(2) ** fl
    return min(max(r, -top), top - Fraction(2) ** -fl)


def q_fixed_mptorch(x32, wl, fl):
    """MPTorch's cast_fxp_nearest of a float32: nearbyint(fl32(x 2^fl + 0.5f) - 0.5)."""
    r = round_half_added(np.float32(np.float32(x32) * np.float32(2.0 ** fl)))
    top = Fraction(2) ** (wl - fl - 1)
    return min(max(r / Fraction(2) ** fl, -top), top - Fraction(2) ** -fl)


def fl32(v):
    """The exact v rounded once to float32 (nearest even), as float32 arithmetic does."""
    return q_float(v, 8, 23)


def replay(a, b, kind, acc, mul, fma, exact):
    """One output of MPTorch's mm kernel: c = Qacc(c + Qmul(a b)) or c = Qacc(a b + c)."""
    c = Fraction(0)
    r = (lambda v: v) if exact else fl32
    for ak, bk in zip(a, b):
        prod = Fraction(float(ak)) * Fraction(float(bk))
        if kind == "float":
            if fma:
                c = q_float(r(prod + c), *acc)
            else:
                p = q_float(r(prod), *mul)
                c = q_float(r(c + p), *acc)
        else:
            q = (lambda v, f: q_fixed(v, *f)) if exact else (lambda v, f: q_fixed_mptorch(float(v), *f))
            if fma:
                c = q(r(prod + c), acc)
            else:
                c = q(r(c + q(r(prod), mul)), acc)
    return c


def nd_input(rng):
    """[4, 12, 5, 7]: one scale per (sample, channel) from 2^-20 to 2^20, with dyadic ties,
    zeros of both signs and a few maxima just under a power of two."""
    x = rng.standard_normal((4, 12, 5, 7)) * 2.0 ** rng.integers(-20, 21, (4, 12, 1, 1))
    ties = rng.random(x.shape) < 0.2
    x[ties] = rng.integers(-48, 49, int(ties.sum())) / 16.0
    x[rng.random(x.shape) < 0.03] = -0.0
    x[rng.random(x.shape) < 0.03] = 0.0
    x[:, :, 0, 0] = (1 - 2.0 ** -24) * 2.0 ** rng.integers(-3, 4, (4, 12))
    return x.astype(np.float32)


def mac_inputs(rng):
    """A [16, 48] and B [48, 24]: half the rows and columns standard normal, half small dyadic
    rationals whose products and sums meet the formats' ties."""
    a = rng.standard_normal((16, 48))
    a[8:] = rng.integers(-24, 25, (8, 48)) / 8.0
    b = rng.standard_normal((48, 24))
    b[:, 12:] = rng.integers(-24, 25, (48, 12)) / 16.0
    return a.astype(np.float32), b.astype(np.float32)


MAC_CASES = [("float", (5, 10), (5, 10), False), ("float", (5, 10), (4, 3), False),
             ("float", (8, 7), (8, 7), False), ("float", (5, 2), (5, 2), False),
             ("float", (4, 3), (4, 3), False), ("float", (5, 10), None, True),
             ("float", (8, 7), None, True), ("float", (4, 3), None, True),
             ("fixed", (16, 8), (16, 10), False), ("fixed", (12, 4), (12, 6), False),
             ("fixed", (16, 8), None, True)]


def mptorch_products(path, a, b):
    """Runs in a process of its own (QPyTorch's extension module is also called quant_cpu)."""
    import types
    stub = types.ModuleType("unfoldNd")
    stub.unfoldNd = None  # only MPTorch's conv layers use it
    sys.modules["unfoldNd"] = stub
    sys.path.insert(0, path)
    from mptorch.quant import float_mm, fxp_mm

    ta, tb = torch.from_numpy(a.copy()), torch.from_numpy(b.copy())
    ys = []
    for kind, acc, mul, fma in MAC_CASES:
        mul = mul or acc
        if kind == "float":
            ys.append(float_mm(ta, tb, man_add=acc[1], exp_add=acc[0], man_mul=mul[1], exp_mul=mul[0],
                               rounding="nearest", fma=fma, subnormals=True, saturate=True).numpy())
        else:
            ys.append(fxp_mm(ta, tb, wl_add=acc[0], fl_add=acc[1], wl_mul=mul[0], fl_mul=mul[1],
                             rounding="nearest", fma=fma).numpy())
    return np.stack(ys)


def run_mptorch(path, a, b, out):
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "a.npy"), a)
        np.save(os.path.join(tmp, "b.npy"), b)
        subprocess.run([sys.executable, os.path.abspath(__file__), "--mptorch", path, tmp], check=True)
        ys = np.load(os.path.join(tmp, "y.npy"))
    for (kind, acc, mul, fma), y in zip(MAC_CASES, ys):
        if kind == "float":
            text = f"acc=float:{acc[0]}:{acc[1]}:ieee" + ("" if fma else f",mul=float:{mul[0]}:{mul[1]}:ieee")
            text += ",acc_rounding=nearest_even" + ("" if fma else ",mul_rounding=nearest_even")
        else:
            text = f"acc=fixed:{acc[0]}:{acc[1]}" + ("" if fma else f",mul=fixed:{mul[0]}:{mul[1]}")
        text += ",fma" if fma else ""
        flags = np.zeros(y.shape, dtype=np.uint8)
        for i, j in np.ndindex(y.shape):
            model = replay(a[i], b[:, j], kind, acc, mul, fma, exact=False)
            if Fraction(float(y[i, j])) != model:
                sys.exit(f"the model of MPTorch's kernel gives {float(model)} for {text} [{i}, {j}], "
                         f"MPTorch {y[i, j]}: fix the model before trusting its flags")
            if replay(a[i], b[:, j], kind, acc, mul, fma, exact=True) != model:
                flags[i, j] = 3
        out.append(("mptorch", text, y.astype(np.float32), flags))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--mptorch":
        tmp = sys.argv[3]
        np.save(os.path.join(tmp, "y.npy"), mptorch_products(
            sys.argv[2], np.load(os.path.join(tmp, "a.npy")), np.load(os.path.join(tmp, "b.npy"))))
        return
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    mx_path, qpt_path, mpt_path = (os.path.abspath(p) for p in sys.argv[1:])
    rng = np.random.default_rng(SEED)
    inputs = {"mx": mx_input(rng), "qpytorch": qpytorch_input(rng)}
    inputs["mac_a"], inputs["mac_b"] = mac_inputs(rng)
    inputs["nd"] = nd_input(rng)
    quantized, products = [], []
    run_microxcaling(mx_path, inputs["mx"], inputs["nd"], quantized)
    run_qpytorch(qpt_path, inputs["qpytorch"], inputs["nd"], quantized)
    run_torch_casts({k: inputs[k] for k in ("mx", "qpytorch")}, quantized)
    run_mptorch(mpt_path, inputs["mac_a"], inputs["mac_b"], products)

    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer_vectors.bin")
    header = [
        "qtorch peer vectors 1",
        f"# microxcaling {git_head(mx_path)}, QPyTorch {git_head(qpt_path)}, MPTorch {git_head(mpt_path)}, "
        f"torch {torch.__version__}, numpy seed {SEED}",
    ]
    for name, x in inputs.items():
        header.append(f"input {name} " + " ".join(str(d) for d in x.shape))
    for peer, number, rounding, input_name, _, _ in quantized:
        header.append(f"case {peer} {number} {rounding} {input_name}")
    for peer, text, _, _ in products:
        header.append(f"mac {peer} {text} mac_a mac_b")
    header.append("end")
    tmp = target + ".tmp"
    with open(tmp, "wb") as f:
        f.write(("\n".join(header) + "\n").encode())
        for x in inputs.values():
            f.write(x.astype("<f4").tobytes())
        for y, flags in [c[4:] for c in quantized] + [c[2:] for c in products]:
            f.write(y.astype("<f4").tobytes())
            f.write(flags.astype(np.uint8).tobytes())
    os.replace(tmp, target)
    for what, cases, at in (("quantize", quantized, 5), ("qmatmul", products, 3)):
        total = sum(c[at].size for c in cases)
        flagged = sum(int(np.count_nonzero(c[at])) for c in cases)
        print(f"{what}: {len(cases)} cases, {flagged} of {total} outputs flagged")


if __name__ == "__main__":
    main()
