"""Golden vectors of one GEMM as the reference array runs it (pure: no I/O).

The integer GEMM is unpacked (imsim.unpack) into one low-bit GEMM A_u (M' x K') @ B_u
(K' x N'). The reference array has plain multiply-accumulate PEs, so the K-axis scales of
column unpacking are applied by *scale passes*: K' is reordered (stably) so that positions
with the same K shift are contiguous, and each such run is one pass whose PE-level results
are plain sums. With no column unpacking there is a single pass with shift 0.

    psum[p] = A_u[:, pass p] @ B_u[pass p, :]                      (M' x N', per pass)
    P       = sum_p psum[p] << shift_p                             (bits)
    C       = recombine(P, plan, M, N)  == A @ B exactly           (M x N)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imsim.errors import UserError
from imsim.hwconfig import HwConfig
from imsim.quantize import qmax
from imsim.unpack import UnpackPlan, recombine, reference_gemm, unpack_gemm


@dataclass(frozen=True)
class KPass:
    """One run of K positions sharing a K-axis shift (a scale class)."""

    shift_bits: int  # left shift (bits) applied to this pass's PE results before recombination
    k_start: int     # first low-bit K position (after grouping)
    k_len: int       # number of K positions


@dataclass(frozen=True)
class Golden:
    """Everything an RTL testbench needs for one GEMM, plus the values to check.

    A: (M', K') int64 A-side operands as fed, K grouped by pass; B: (K', N') likewise.
    psum: (passes, M', N') int64 PE-level results (plain sums, what the accumulators hold).
    C: (M, N) int64 final result after recombination (== A @ B of the integer GEMM).
    k_src: (K',) original k of each grouped low-bit K position.
    """

    A: np.ndarray
    B: np.ndarray
    psum: np.ndarray
    C: np.ndarray
    passes: tuple[KPass, ...]
    k_src: np.ndarray
    plan: UnpackPlan
    shape: tuple[int, int, int]
    strategy: str
    unpack_ratio: float
    a_bits: int
    w_bits: int
    acc_bits: int
    c_bits: int
    rows: int
    cols: int

    @property
    def low_shape(self) -> tuple[int, int, int]:
        """(M', K', N') of the low-bit GEMM."""
        return (self.A.shape[0], self.A.shape[1], self.B.shape[1])

    @property
    def tile_grid(self) -> tuple[int, int]:
        """(tile rows, tile columns): ceil(M'/rows), ceil(N'/cols)."""
        m, _, n = self.low_shape
        return (-(-m // self.rows), -(-n // self.cols))


def _signed_bits(lo: int, hi: int) -> int:
    """Smallest two's complement width holding every integer in [lo, hi] (at least 2)."""
    return max(2, max(hi, 0).bit_length() + 1, (-min(lo, 0) - 1).bit_length() + 1)


def _check_fits(values: np.ndarray, bits: int, field: str, what: str) -> None:
    """UserError if any value is outside the signed `bits` range."""
    if values.size == 0:
        return
    lo, hi = int(values.min()), int(values.max())
    if lo < -(1 << (bits - 1)) or hi > (1 << (bits - 1)) - 1:
        need = _signed_bits(lo, hi)
        raise UserError(f"{field} = {bits}: {what} span {lo}..{hi}, which needs {need} bits; "
                        f"raise it with --set {field}={need} or use a smaller GEMM")


def scale_passes(k_shift: np.ndarray) -> tuple[np.ndarray, tuple[KPass, ...]]:
    """(stable order grouping K positions by shift, the passes in increasing shift order)."""
    k_shift = np.asarray(k_shift, dtype=np.int64)
    order = np.argsort(k_shift, kind="stable")
    grouped = k_shift[order]
    passes = []
    start = 0
    for shift in np.unique(grouped):
        length = int(np.count_nonzero(grouped == shift))
        passes.append(KPass(shift_bits=int(shift), k_start=start, k_len=length))
        start += length
    return order, tuple(passes)


def _shifted_sum(psum: np.ndarray, passes: tuple[KPass, ...], python_ints: bool) -> np.ndarray:
    """P = sum_p psum[p] << shift_p, exact (Python ints if int64 could overflow)."""
    peak = int(np.abs(psum).max()) if psum.size else 0
    top = max((p.shift_bits for p in passes), default=0)
    exact_int64 = not python_ints and peak.bit_length() + top + len(passes).bit_length() < 63
    total = np.zeros(psum.shape[1:], dtype=np.int64 if exact_int64 else object)
    for p, kp in enumerate(passes):
        part = psum[p] if exact_int64 else psum[p].astype(object)
        total = total + part * (1 << kp.shift_bits)
    return total


def build_golden(A: np.ndarray, B: np.ndarray, hw: HwConfig, strategy: str = "auto",
                 digits: str = "signmag") -> Golden:
    """Unpack the integer GEMM A @ B for `hw` (a_bits, w_bits, rows, cols, acc_bits,
    recomb_acc_bits) with `digits` and compute the golden vectors. UserError if a PE result
    does not fit acc_bits or a final value does not fit recomb_acc_bits."""
    ug = unpack_gemm(A, B, hw.a_bits, hw.w_bits, strategy, digits)
    order, passes = scale_passes(ug.plan.k_shift)
    A_u = np.ascontiguousarray(ug.A[:, order].astype(np.int64))
    B_u = np.ascontiguousarray(ug.B[order, :].astype(np.int64))
    m, _, n = A_u.shape[0], A_u.shape[1], B_u.shape[1]
    # |psum| <= k_len * qmax(a_bits) * qmax(w_bits) < 2^30 * k_len: exact in int64
    psum = np.zeros((len(passes), m, n), dtype=np.int64)
    for p, kp in enumerate(passes):
        ks = slice(kp.k_start, kp.k_start + kp.k_len)
        psum[p] = A_u[:, ks] @ B_u[ks, :]
    _check_fits(psum, hw.acc_bits, "acc_bits", "PE-level results (psum)")
    M, K, N = ug.shape
    C = recombine(_shifted_sum(psum, passes, ug.needs_python_ints), ug.plan, M, N)
    reference = reference_gemm(np.asarray(A), np.asarray(B))
    if not np.array_equal(np.asarray(C, dtype=object), np.asarray(reference, dtype=object)):
        raise RuntimeError("internal error: recombined golden C differs from A @ B")
    C = np.asarray(reference, dtype=np.int64)
    _check_fits(C, hw.recomb_acc_bits, "recomb_acc_bits", "final results (C)")
    return Golden(A=A_u, B=B_u, psum=psum, C=C, passes=passes,
                  k_src=np.asarray(ug.plan.k_src, dtype=np.int64)[order], plan=ug.plan,
                  shape=ug.shape, strategy=ug.strategy, unpack_ratio=ug.unpack_ratio,
                  a_bits=hw.a_bits, w_bits=hw.w_bits, acc_bits=hw.acc_bits,
                  c_bits=hw.recomb_acc_bits, rows=hw.rows, cols=hw.cols)


def random_int_gemm(M: int, K: int, N: int, a_bits: int, w_bits: int, seed: int = 0,
                    heavy_fraction: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """A random integer GEMM (int64 A: M x K, B: K x N): entries uniform in the b-bit range,
    `heavy_fraction` of them heavy hitters of up to two extra digit levels (|x| <= qmax*s^2),
    so that unpacking has work to do. Deterministic for a given seed."""
    rng = np.random.default_rng(seed)

    def operand(shape: tuple[int, int], bits: int) -> np.ndarray:
        q = qmax(bits)
        x = rng.integers(-q, q + 1, size=shape, dtype=np.int64)
        heavy = rng.random(shape) < heavy_fraction
        top = q * (1 << (2 * (bits - 1)))
        mags = rng.integers(q + 1, top + 1, size=shape, dtype=np.int64)
        signs = rng.choice(np.array([-1, 1], dtype=np.int64), size=shape)
        return np.where(heavy, signs * mags, x)

    return operand((M, K), a_bits), operand((K, N), w_bits)
