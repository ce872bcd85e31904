"""Unpack plans and their cost without materialising the unpacked matrices (cheap `auto`).

A plan says which lines an unpacking strategy adds; its cost follows from per-line digit levels
(row / col: a line with L digit levels becomes L lines) and, for the greedy `both`, from a
count-only simulation over the out-of-range entries alone (in-range entries stay in range when
split, so they never change a count). `pair_costs` gives every (A strategy, B strategy) pair's
low-bit shape (M', K', N'); `imsim.unpack.unpack_gemm` materialises only the winner.

A plan's lines may be decided with one digit kind (`plan_digits`) and filled with another: a
line split under `floor` digits is also a valid split under `signmag` digits (|trunc(x/s^n)| <=
|floor(x/s^n)|), so signmag unpacking can always reuse the floor plan; for the greedy `both`
strategy it keeps whichever of the two plans is cheaper, so signmag is never costlier than floor.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imsim.digits import check_digits, entry_levels, high
from imsim.quantize import check_bits, qmax

BASE_STRATEGIES = ("row", "col", "both")


@dataclass(frozen=True)
class OperandPlan:
    """How one operand X (lines x K) unpacks. row/col: `levels` per line (axis 0) or per K
    position (axis 1); both: `splits`, the greedy's ((axis, index), ...) in order. `lines` = L',
    `k_src` = the original K position of each of the K' positions, in materialised order."""

    strategy: str
    plan_digits: str
    lines: int
    k_src: np.ndarray
    levels: np.ndarray | None = None
    splits: tuple[tuple[int, int], ...] | None = None

    @property
    def k_positions(self) -> int:
        return int(self.k_src.size)


def line_levels(X: np.ndarray, bits: int, axis: int, digits: str) -> np.ndarray:
    """Digit levels of every line along `axis` (0: rows, 1: columns): the most any entry needs."""
    sbits = bits - 1
    if X.size == 0:
        return np.ones(X.shape[axis], dtype=np.int64)
    hi = X.max(axis=1 - axis).astype(np.int64)
    lo = X.min(axis=1 - axis).astype(np.int64)
    return np.maximum(entry_levels(hi, sbits, digits), entry_levels(lo, sbits, digits))


def _level_k_src(levels: np.ndarray) -> np.ndarray:
    """K sources of a `col` plan: the originals, then level 1 lines, level 2 lines, ..."""
    parts = [np.arange(levels.size, dtype=np.int64)]
    for level in range(1, int(levels.max(initial=1))):
        parts.append(np.flatnonzero(levels > level).astype(np.int64))
    return np.concatenate(parts)


def greedy_splits(X: np.ndarray, bits: int, digits: str) -> tuple[tuple[tuple[int, int], ...], int, np.ndarray]:
    """The `both` greedy on X (lines x K), counts only: split whichever line (axis 0) or column
    (axis 1) holds the most out-of-range entries (first maximum, ties to lines) until none is
    left. Returns (splits, lines L', k_src of the K' columns)."""
    sbits = bits - 1
    lim = qmax(bits)
    L, K = X.shape
    r, c = np.nonzero(np.abs(X) > lim)
    v = X[r, c].astype(np.int64)
    r, c = r.astype(np.int64), c.astype(np.int64)
    alive = np.ones(r.size, dtype=bool)
    row_count = np.bincount(r, minlength=L).astype(np.int64)
    col_count = np.bincount(c, minlength=K).astype(np.int64)
    k_src = list(range(K))
    n_rows, n_cols = L, K
    splits: list[tuple[int, int]] = []
    while r.size:
        i = int(np.argmax(row_count[:n_rows]))
        j = int(np.argmax(col_count[:n_cols]))
        if row_count[i] == 0 and col_count[j] == 0:
            break
        on_row = row_count[i] >= col_count[j]
        line, other, count, other_count, n = (r, c, row_count, col_count, n_rows) if on_row else \
            (c, r, col_count, row_count, n_cols)
        idx = np.flatnonzero(alive & (line == (i if on_row else j)))
        hv = high(v[idx], sbits, digits)
        keep = np.abs(hv) > lim
        np.subtract.at(other_count, other[idx[~keep]], 1)
        alive[idx[~keep]] = False
        line[idx] = n
        v[idx] = hv
        if n >= count.size:
            count = np.concatenate([count, np.zeros(max(n, 16), dtype=np.int64)])
        count[i if on_row else j] = 0
        count[n] = int(keep.sum())
        if on_row:
            row_count, n_rows = count, n_rows + 1
            splits.append((0, i))
        else:
            col_count, n_cols = count, n_cols + 1
            k_src.append(k_src[j])
            splits.append((1, j))
    return tuple(splits), n_rows, np.asarray(k_src, dtype=np.int64)


def plan_operand(X: np.ndarray, bits: int, strategy: str, plan_digits: str) -> OperandPlan:
    """The plan of one operand under `strategy` with lines decided by `plan_digits`."""
    L, K = X.shape
    if strategy == "row":
        lv = line_levels(X, bits, 0, plan_digits)
        return OperandPlan("row", plan_digits, int(lv.sum()), np.arange(K, dtype=np.int64), levels=lv)
    if strategy == "col":
        lv = line_levels(X, bits, 1, plan_digits)
        return OperandPlan("col", plan_digits, L, _level_k_src(lv), levels=lv)
    splits, lines, k_src = greedy_splits(X, bits, plan_digits)
    return OperandPlan("both", plan_digits, lines, k_src, splits=splits)


@dataclass(frozen=True)
class PairPlan:
    """An (A strategy, B strategy) pair's plans and low-bit shape (M', K', N')."""

    a: OperandPlan
    b: OperandPlan  # plan of B1^T (N x K_A'), B with A's K duplications, transposed
    shape: tuple[int, int, int]

    @property
    def macs(self) -> int:
        m, k, n = self.shape
        return m * k * n


def _b_plan(B: np.ndarray, a: OperandPlan, w_bits: int, sb: str, plan_digits: str,
            cache: dict) -> OperandPlan:
    """Plan of B1^T = B[a.k_src].T; row/col levels come from B itself (duplicates share them)."""
    N = B.shape[1]
    if sb == "row":
        key = ("row", plan_digits)
        if key not in cache:
            cache[key] = line_levels(B, w_bits, 1, plan_digits)  # one level count per column of B
        lv = cache[key]
        return OperandPlan("row", plan_digits, int(lv.sum()), np.arange(a.k_positions, dtype=np.int64),
                           levels=lv)
    if sb == "col":
        key = ("col", plan_digits)
        if key not in cache:
            cache[key] = line_levels(B, w_bits, 0, plan_digits)  # per row k of B
        lv = cache[key][a.k_src]
        return OperandPlan("col", plan_digits, N, _level_k_src(lv), levels=lv)
    B1T = (B[a.k_src] if a.k_positions != B.shape[0] else B).T
    return plan_operand(B1T, w_bits, "both", plan_digits)


def pair_plans(A: np.ndarray, B: np.ndarray, a_bits: int, w_bits: int, digits: str,
               pairs: list[tuple[str, str]] | None = None) -> dict[tuple[str, str], PairPlan]:
    """The cheapest plan of every (A strategy, B strategy) pair (all nine by default) for
    integer A (M x K) @ B (K x N) under `digits`, without materialising anything."""
    a_bits, w_bits = check_bits(a_bits, "a_bits"), check_bits(w_bits, "w_bits")
    digits = check_digits(digits)
    pairs = pairs or [(sa, sb) for sa in BASE_STRATEGIES for sb in BASE_STRATEGIES]
    a_plans: dict[tuple[str, str], OperandPlan] = {}
    b_cache: dict = {}
    out: dict[tuple[str, str], PairPlan] = {}
    for sa, sb in pairs:
        # signmag may reuse the floor plan; it only pays off when the greedy is involved
        kinds = ("signmag", "floor") if digits == "signmag" and "both" in (sa, sb) else (digits,)
        best = None
        for pd in kinds:
            if (sa, pd) not in a_plans:
                a_plans[(sa, pd)] = plan_operand(A, a_bits, sa, pd)
            a = a_plans[(sa, pd)]
            b = _b_plan(B, a, w_bits, sb, pd, b_cache)
            cand = PairPlan(a, b, (a.lines, b.k_positions, b.lines))
            if best is None or cand.macs < best.macs:
                best = cand
        out[(sa, sb)] = best
    return out


def pair_costs(A: np.ndarray, B: np.ndarray, a_bits: int, w_bits: int | None = None,
               digits: str = "signmag") -> dict[tuple[str, str], tuple[int, int, int]]:
    """Low-bit shape (M', K', N') of every (A strategy, B strategy) pair, e.g. for cost
    objectives (cycles, energy) that rank pairs by more than MACs. Integer operands."""
    w_bits = a_bits if w_bits is None else w_bits
    A = np.asarray(A)
    B = np.asarray(B)
    return {k: p.shape for k, p in pair_plans(A, B, a_bits, w_bits, digits).items()}
