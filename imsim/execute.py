"""Exact execution of a low-bit GEMM through the array with the configured accumulators.

The array computes, per pass (all of K' with `shift_accumulate`, one K scale class per pass
with `scale_passes`), the signed acc_bits accumulations

    acc[i, j] = sum_k (A_u[i, k] * B_u[k, j]) << t_k       (t_k = k_shift with shift_accumulate,
                                                             0 inside a scale pass)

in K order. Where partial sums live depends on the dataflow: os keeps one accumulator per PE
for the whole reduction (intermediates = prefix sums along K); ws/is reduce each K fold of
`rows` lines down a PE column starting from 0 and add the fold's sum into a C-buffer partial
sum of the same width (intermediates = prefix sums inside each K fold, then the running sum
over folds). Overflow = an intermediate outside [-2^(acc-1), 2^(acc-1) - 1]; the policy is
`error` (raise AccumulatorOverflow), `wrap` (two's complement; equals wrapping the exact sum)
or `saturate` (clamp every intermediate, in order).

Speed: products use float BLAS whenever every partial sum is provably an integer below 2^24
(float32) or 2^53 (float64) in magnitude, else int64/object. Overflow is checked without
prefix sums where the bound max|a| max|w| sum_k 2^t_k fits the accumulator, or where every
row's bound |A| diag(2^t) max_j |B[:, j]| does; otherwise the exact bound |A| diag(2^t) |B|
picks the few (i, j) whose prefix sums must be examined.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imsim.errors import AccumulatorOverflow
from imsim.reference import MATMUL_METHODS as METHODS, I64_SAFE, exact_matmul
from imsim.unpack import absmax

POLICIES = ("error", "wrap", "saturate")


def acc_range(bits: int) -> tuple[int, int]:
    """Signed two's-complement range of a `bits`-wide accumulator (lo, hi)."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def wrap_to(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap of integers into `bits` (int64 or object arrays)."""
    lo, _ = acc_range(bits)
    if x.dtype == object:
        m = 1 << bits
        return np.array([((int(v) - lo) % m) + lo for v in x.flat], dtype=object).reshape(x.shape)
    if bits >= 64:
        return x
    m = np.int64(1 << bits)
    return ((x - lo) % m) + lo


def _scaled(X: np.ndarray, shift: np.ndarray, axis: int, big: bool) -> np.ndarray:
    """X times 2^shift along `axis` (int64, or object when `big`)."""
    if big:
        f = np.array([1 << int(s) for s in shift], dtype=object)
        X = X.astype(object)
    else:
        f = np.left_shift(np.int64(1), shift.astype(np.int64))
        X = X.astype(np.int64)
    return X * (f[:, None] if axis == 0 else f[None, :])


@dataclass(frozen=True)
class PassResult:
    """Accumulator contents after one array pass (M' x N') and what happened on the way."""

    acc: np.ndarray      # int64 (object if wider than int64), after the overflow policy
    shift_bits: int      # shift the recombination unit applies to this pass (scale_passes)
    overflows: int       # accumulator elements that overflowed at least once
    method: str          # product method (float32 / float64 / int64 / object)


def _tile_of(i: int, j: int, k: int, rows: int, cols: int, dataflow: str, shape: tuple) -> str:
    """The fold (half-open index ranges of the low-bit GEMM) holding MAC (i, k, j)."""
    M, K, N = shape
    spans = {"M": (i, M), "K": (k, K), "N": (j, N)}
    row_dim, col_dim = {"os": ("M", "N"), "ws": ("K", "N"), "is": ("K", "M")}[dataflow]
    out = {}
    for dim, (x, ext) in spans.items():
        if dim == row_dim:
            out[dim] = (x // rows * rows, min(ext, (x // rows + 1) * rows))
        elif dim == col_dim:
            out[dim] = (x // cols * cols, min(ext, (x // cols + 1) * cols))
        else:
            out[dim] = (0, ext)
    return ", ".join(f"{d.lower()} {a}:{b}" for d, (a, b) in out.items())


def _intermediates(prods: np.ndarray, k_fold: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Min and max over the accumulation intermediates, per column of `prods` (K x n)."""
    cs = np.cumsum(prods, axis=0)
    if k_fold is None or k_fold >= prods.shape[0]:
        return cs.min(axis=0), cs.max(axis=0)
    K = prods.shape[0]
    ends = np.arange(k_fold - 1, K, k_fold)
    if ends[-1] != K - 1:
        ends = np.append(ends, K - 1)
    starts = np.concatenate([[0], ends[:-1] + 1])
    offset = np.zeros_like(cs)
    for s in starts[1:]:
        offset[s:] = cs[s - 1]
    within = cs - offset  # prefix sums inside each fold, restarting at 0
    running = cs[ends]    # C-buffer partial after each fold
    return (np.minimum(within.min(axis=0), running.min(axis=0)),
            np.maximum(within.max(axis=0), running.max(axis=0)))


def _saturating(prods: np.ndarray, k_fold: int | None, lo: int, hi: int) -> np.ndarray:
    """Sequential saturating accumulation of each column of `prods` (K x n) in K order."""
    K, n = prods.shape
    fold = K if k_fold is None else k_fold
    buf = np.zeros(n, dtype=prods.dtype)
    for k0 in range(0, K, fold):
        col = np.zeros(n, dtype=prods.dtype)
        for k in range(k0, min(K, k0 + fold)):
            col = np.clip(col + prods[k], lo, hi)
        buf = col if k0 == 0 else np.clip(buf + col, lo, hi)
    return buf


def run_pass(A: np.ndarray, B: np.ndarray, k_shift: np.ndarray, *, acc_bits: int, policy: str,
             dataflow: str, rows: int, cols: int, shift_bits: int = 0, name: str = "gemm",
             shape: tuple | None = None) -> PassResult:
    """One array pass: accumulate A @ diag(2^k_shift) @ B in acc_bits with the overflow policy.

    A (M' x Kp), B (Kp x N') hold b-bit integers; k_shift (Kp,) the per-K shift in bits applied
    inside the PE (zeros for a scale pass). `shape` (M', K', N') and the K positions only name
    the fold in error messages.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy {policy!r}")
    lo, hi = acc_range(acc_bits)
    K = A.shape[1]
    ma, mw = absmax(A), absmax(B)
    classes = np.unique(k_shift) if K else np.zeros(0, dtype=np.int64)
    weight = sum(int(np.count_nonzero(k_shift == t)) << int(t) for t in classes)
    bound = ma * mw * weight  # >= every |intermediate|
    big = bound >= I64_SAFE
    # exact product, one matmul per shift class
    P = None
    method = "float32"
    for t in classes:
        idx = np.flatnonzero(k_shift == t)
        Ai, Bi = (A, B) if idx.size == K else (A[:, idx], B[idx])
        part, m = exact_matmul(Ai, Bi, idx.size * ma * mw)
        method = max(method, m, key=METHODS.index)  # report the slowest path used
        if big:
            part = part.astype(object) * (1 << int(t))
        elif t:
            part = part << np.int64(t)
        P = part if P is None else P + part
    if P is None:
        P = np.zeros((A.shape[0], B.shape[1]), dtype=np.int64)
    if bound <= hi:
        return PassResult(P, shift_bits, 0, method)
    # exact per-element bound |A| diag(2^t) |B|, after a per-row one (|B| by its row maxima):
    # when no row can overflow, no element can
    absA = _scaled(np.abs(A.astype(np.int64)), k_shift, 1, big)
    absB = np.abs(B.astype(np.int64))
    row_bound, _ = exact_matmul(absA, absB.max(axis=1, initial=0)[:, None], bound)
    if not row_bound.size or int(row_bound.max()) <= hi:
        return PassResult(P, shift_bits, 0, method)
    S, _ = exact_matmul(absA, absB, bound)
    cand_i, cand_j = np.nonzero(S > hi)
    if cand_i.size == 0:
        return PassResult(P, shift_bits, 0, method)
    k_fold = None if dataflow == "os" else rows
    over_i, over_j, over_prods = [], [], []
    Af = _scaled(A, k_shift, 1, big)
    Bf = B.astype(object) if big else B.astype(np.int64)
    for i in np.unique(cand_i):
        js = cand_j[cand_i == i]
        prods = Af[i][:, None] * Bf[:, js]  # K x len(js)
        mn, mx = _intermediates(prods, k_fold)
        bad = (mx > hi) | (mn < lo)
        if np.any(bad):
            over_i.append(np.full(int(np.count_nonzero(bad)), i))
            over_j.append(js[bad])
            over_prods.append(prods[:, bad])
    if not over_i:
        return PassResult(P, shift_bits, 0, method)
    oi, oj = np.concatenate(over_i), np.concatenate(over_j)
    n_over = int(oi.size)
    if policy == "error":
        i, j = int(oi[0]), int(oj[0])
        prods = over_prods[0][:, 0]
        cs = np.cumsum(prods)
        k = int(np.flatnonzero((cs > hi) | (cs < lo))[0]) if np.any((cs > hi) | (cs < lo)) else K - 1
        where = _tile_of(i, j, k, rows, cols, dataflow, shape or (A.shape[0], K, B.shape[1]))
        raise AccumulatorOverflow(
            f"{name}: PE accumulator overflow in the fold at {where}: partial sum of C'[{i},{j}] "
            f"reaches {int(cs[k])} by k = {k}, outside the {acc_bits}-bit range [{lo}, {hi}] "
            f"({n_over} element(s) overflow); raise acc_bits or set overflow=wrap|saturate")
    if policy == "wrap":
        P = P.copy()
        P[oi, oj] = wrap_to(P[oi, oj], acc_bits)
    else:
        P = P.copy()
        P[oi, oj] = _saturating(np.concatenate(over_prods, axis=1), k_fold, lo, hi)
    return PassResult(P, shift_bits, n_over, method)


def run_passes(ug, hw, *, name: str = "gemm") -> list[PassResult]:
    """All array passes of an UnpackedGemm on `hw` (one, or one per K scale class)."""
    kw = dict(acc_bits=hw.acc_bits, policy=hw.overflow, dataflow=hw.dataflow, rows=hw.rows,
              cols=hw.cols, name=name, shape=ug.low_shape)
    k_shift = np.asarray(ug.plan.k_shift, dtype=np.int64)
    if hw.k_scale == "shift_accumulate" or ug.k_classes.size <= 1:
        if hw.k_scale == "scale_passes" and k_shift.size and k_shift[0]:
            t = int(k_shift[0])
            return [run_pass(ug.A, ug.B, np.zeros_like(k_shift), shift_bits=t, **kw)]
        return [run_pass(ug.A, ug.B, k_shift, **kw)]
    out = []
    for t in ug.k_classes:
        idx = np.flatnonzero(k_shift == t)
        out.append(run_pass(ug.A[:, idx], ug.B[idx], np.zeros(idx.size, dtype=np.int64),
                            shift_bits=int(t), **kw))
    return out
