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

Every plan reads only the operands' out-of-range entries (imsim.heavy), found once per operand.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imsim.digits import check_digits, entry_levels
from imsim.heavy import HeavyEntries, find_heavy
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
        parts.append(np.flatnonzero(levels > level).astype(np.int64, copy=False))
    return np.concatenate(parts)


def greedy_splits(X: np.ndarray, bits: int, digits: str) -> tuple[tuple[tuple[int, int], ...], int, np.ndarray]:
    """The `both` greedy on X (lines x K), counts only: split whichever line (axis 0) or column
    (axis 1) holds the most out-of-range entries (first maximum, ties to lines) until none is
    left. Returns (splits, lines L', k_src of the K' columns)."""
    h = find_heavy(X, bits)
    return greedy_splits_sparse(h.rows, h.cols, h.values, h.shape, bits, digits)


def greedy_splits_sparse(rr: np.ndarray, cc: np.ndarray, vv: np.ndarray, shape: tuple[int, int], bits: int,
                         digits: str) -> tuple[tuple[tuple[int, int], ...], int, np.ndarray]:
    """`greedy_splits` of a matrix of `shape` given only its out-of-range entries (rows rr,
    columns cc, values vv; any order).

    Only out-of-range entries are tracked (per-line entry lists, lazily pruned), and the line
    with the most of them comes from a heap of (-count, index) holding one entry per line whose
    stored count may exceed the true one (counts of existing lines only fall): a stale top is
    corrected and pushed back, so a split costs the entries it touches, not a matrix pass."""
    import heapq

    sbits = bits - 1
    lim = qmax(bits)
    L, K = shape
    vals = np.asarray(vv, dtype=np.int64).tolist()
    r, c = np.asarray(rr).tolist(), np.asarray(cc).tolist()
    alive = [True] * len(vals)
    lines: list[list[int]] = [[] for _ in range(L)]  # entry ids per line (axis 0)
    cols: list[list[int]] = [[] for _ in range(K)]  # entry ids per column (axis 1)
    for e, (i, j) in enumerate(zip(r, c)):
        lines[i].append(e)
        cols[j].append(e)
    line_count = [len(x) for x in lines]
    col_count = [len(x) for x in cols]
    line_heap = [(-n, i) for i, n in enumerate(line_count) if n]
    col_heap = [(-n, j) for j, n in enumerate(col_count) if n]
    heapq.heapify(line_heap)
    heapq.heapify(col_heap)
    k_src = list(range(K))
    floor = digits == "floor"
    splits: list[tuple[int, int]] = []

    def top(heap: list, count: list) -> tuple[int, int]:
        while heap:
            stored, idx = heap[0]
            now = count[idx]
            if now == -stored:
                return now, idx
            if now:
                heapq.heapreplace(heap, (-now, idx))  # stale: its count fell since
            else:
                heapq.heappop(heap)
        return 0, -1

    while True:
        n_line, i = top(line_heap, line_count)
        n_col, j = top(col_heap, col_count)
        if n_line == 0 and n_col == 0:
            break
        on_line = n_line >= n_col
        if on_line:
            members, here, there = lines[i], r, c
            other_count = col_count
            new, src = len(lines), i
            lines.append([])
            line_count.append(0)
            splits.append((0, i))
        else:
            members, here, there = cols[j], c, r
            other_count = line_count
            new, src = len(cols), j
            cols.append([])
            col_count.append(0)
            k_src.append(k_src[j])
            splits.append((1, j))
        kept = []
        for e in members:
            if not alive[e] or here[e] != src:
                continue
            v = vals[e]
            h = v >> sbits if floor else (-((-v) >> sbits) if v < 0 else v >> sbits)
            if -lim <= h <= lim:
                alive[e] = False
                other_count[there[e]] -= 1  # its heap entry is corrected when it reaches the top
            else:
                vals[e] = h
                here[e] = new
                kept.append(e)
        members.clear()
        if on_line:
            line_count[i] = 0
            lines[new] = kept
            line_count[new] = len(kept)
            if kept:
                heapq.heappush(line_heap, (-len(kept), new))
        else:
            col_count[j] = 0
            cols[new] = kept
            col_count[new] = len(kept)
            if kept:
                heapq.heappush(col_heap, (-len(kept), new))
    return tuple(splits), len(lines), np.asarray(k_src, dtype=np.int64)


def plan_operand(heavy: HeavyEntries, strategy: str, plan_digits: str) -> OperandPlan:
    """The plan of one operand (given by its out-of-range entries) under `strategy` with lines
    decided by `plan_digits`."""
    L, K = heavy.shape
    if strategy == "row":
        lv = heavy.line_levels(0, plan_digits)
        return OperandPlan("row", plan_digits, int(lv.sum()), np.arange(K, dtype=np.int64), levels=lv)
    if strategy == "col":
        lv = heavy.line_levels(1, plan_digits)
        return OperandPlan("col", plan_digits, L, _level_k_src(lv), levels=lv)
    splits, lines, k_src = greedy_splits_sparse(heavy.rows, heavy.cols, heavy.values, heavy.shape, heavy.bits,
                                                plan_digits)
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


def _b_levels(B: HeavyEntries, sb: str, plan_digits: str, cache: dict) -> np.ndarray:
    """B's digit levels for a `row` plan of B1^T (one per column of B) or a `col` plan (one per
    row k of B), kept in `cache`."""
    key = (sb, plan_digits)
    if key not in cache:
        cache[key] = B.line_levels(1 if sb == "row" else 0, plan_digits)
    return cache[key]


def _b_plan(B: HeavyEntries, a: OperandPlan, sb: str, plan_digits: str, cache: dict) -> OperandPlan:
    """Plan of B1^T = B[a.k_src].T (B given by its out-of-range entries); row/col levels come
    from B itself (duplicates share them)."""
    N = B.shape[1]
    if sb == "row":
        lv = _b_levels(B, sb, plan_digits, cache)
        return OperandPlan("row", plan_digits, int(lv.sum()), np.arange(a.k_positions, dtype=np.int64),
                           levels=lv)
    if sb == "col":
        lv = _b_levels(B, sb, plan_digits, cache)[a.k_src]
        return OperandPlan("col", plan_digits, N, _level_k_src(lv), levels=lv)
    key = ("both", plan_digits, a.k_src.tobytes())  # A plans with equal K' share B's greedy
    if key not in cache:
        k, n, v = B.rows, B.cols, B.values
        # B1^T = B[k_src].T: B's entry (k, n) appears at (n, p) for every K position p with k_src[p] = k
        order = np.argsort(a.k_src, kind="stable")
        starts = np.searchsorted(a.k_src[order], k, side="left")
        ends = np.searchsorted(a.k_src[order], k, side="right")
        reps = ends - starts
        idx = np.repeat(np.arange(k.size), reps)
        within = np.arange(idx.size) - np.repeat(np.cumsum(reps) - reps, reps)  # 0..reps-1 per entry
        pos = order[np.repeat(starts, reps) + within]
        splits, lines, k_src = greedy_splits_sparse(n[idx], pos, v[idx], (N, a.k_positions), B.bits, plan_digits)
        cache[key] = OperandPlan("both", plan_digits, lines, k_src, splits=splits)
    return cache[key]


class _Planner:
    """Plans of (A strategy, B strategy) pairs for one GEMM, sharing A's plans and B's levels
    and greedy results between the pairs."""

    def __init__(self, A: np.ndarray, B: np.ndarray, a_bits: int, w_bits: int, digits: str) -> None:
        self.A, self.B = find_heavy(A, a_bits), find_heavy(B, w_bits)  # all planning reads
        self.digits = digits
        self.a_plans: dict[tuple[str, str], OperandPlan] = {}
        self.b_cache: dict = {}
        self._same: tuple[bool, bool] | None = None

    def a_plan(self, sa: str, plan_digits: str | None = None) -> OperandPlan:
        key = (sa, plan_digits or self.digits)
        if key not in self.a_plans:
            self.a_plans[key] = plan_operand(self.A, sa, key[1])
        return self.a_plans[key]

    def same(self) -> tuple[bool, bool]:
        """Per operand: do all its plans come out the same under floor digits?"""
        if self._same is None:
            floor = self.digits == "floor"
            self._same = (floor or self.A.kinds_agree(), floor or self.B.kinds_agree())
        return self._same

    def b_least(self, sb: str) -> tuple[int, int]:
        """(K positions added, N') that B's `sb` plan has at least, whatever A's plan: `row`
        splits B's columns by their levels (N' = their sum; A's duplicate K positions share
        them); `col` splits every K position of a row k of B into its levels, and every k keeps
        at least one position; `both`: (0, N). Floor levels are never fewer than signmag ones,
        so the planner's `digits` levels bound every candidate kind."""
        if sb == "row":
            return 0, int(_b_levels(self.B, "row", self.digits, self.b_cache).sum())
        if sb == "col":
            return int((_b_levels(self.B, "col", self.digits, self.b_cache) - 1).sum()), self.B.shape[1]
        return 0, self.B.shape[1]

    def kinds(self, sa: str, sb: str) -> list[tuple[str, str]]:
        """(A plan digits, B plan digits) candidates of a pair: `digits`, and for signmag also
        the lines floor digits would split, when those can differ and the greedy is involved."""
        kinds = [(self.digits, self.digits)]
        if self.digits == "signmag" and "both" in (sa, sb):
            same_a, same_b = self.same()
            if not (same_a and same_b):
                kinds.append(("signmag" if same_a else "floor", "signmag" if same_b else "floor"))
        return kinds

    def plan(self, sa: str, sb: str) -> PairPlan:
        """The cheapest of the pair's candidate plans (`kinds`)."""
        best = None
        for pa, pb in self.kinds(sa, sb):
            a = self.a_plan(sa, pa)
            b = _b_plan(self.B, a, sb, pb, self.b_cache)
            cand = PairPlan(a, b, (a.lines, b.k_positions, b.lines))
            if best is None or cand.macs < best.macs:
                best = cand
        assert best is not None
        return best


def pair_plans(A: np.ndarray, B: np.ndarray, a_bits: int, w_bits: int, digits: str,
               pairs: list[tuple[str, str]] | None = None) -> dict[tuple[str, str], PairPlan]:
    """The cheapest plan of every (A strategy, B strategy) pair (all nine by default) for
    integer A (M x K) @ B (K x N) under `digits`, without materialising anything."""
    a_bits, w_bits = check_bits(a_bits, "a_bits"), check_bits(w_bits, "w_bits")
    planner = _Planner(A, B, a_bits, w_bits, check_digits(digits))
    pairs = pairs or [(sa, sb) for sa in BASE_STRATEGIES for sb in BASE_STRATEGIES]
    return {(sa, sb): planner.plan(sa, sb) for sa, sb in pairs}


def matching_size(X: np.ndarray, bits: int) -> int:
    """Size of a maximal matching of X's out-of-range entries (a row and a column each used
    once): every plan must split the row or the column of each such entry, so the greedy's
    line splits are at least a minimum vertex cover >= any matching."""
    return find_heavy(X, bits).matching_size()


def _split_bound(lines: int, k: int, splits: int) -> int:
    """Least lines x K positions after at least `splits` splits of lines or K positions."""
    return min((lines + splits) * k, lines * (k + splits))


def cheapest_pair(A: np.ndarray, B: np.ndarray, a_bits: int, w_bits: int, digits: str,
                  pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], PairPlan]:
    """The pair of `pairs` with the fewest MACs (first in `pairs` order on ties), as
    `pair_plans` would pick it, skipping the greedy of any pair whose lower bound (from a
    matching of its out-of-range entries, and the least B's plan adds: `_Planner.b_least`)
    cannot beat the best pair found so far.

    The bounds: A's greedy makes r line and c K splits with r + c >= m_a, so a `both` A side
    costs at least (M + r)(K + e + c) N' >= _split_bound(M, K + e, m_a) N' with (e, N') from
    b_least (the product is concave in r, so its least is at r = 0 or r = m_a). B's greedy
    on N x K' likewise; a `row` / `col` A plan's signmag lines and K positions are never more
    than its floor ones, so the bound of a B greedy uses the planner's own digits there."""
    a_bits, w_bits = check_bits(a_bits, "a_bits"), check_bits(w_bits, "w_bits")
    planner = _Planner(A, B, a_bits, w_bits, check_digits(digits))
    if len(pairs) == 1:
        return pairs[0], planner.plan(*pairs[0])
    M, K = A.shape
    N = B.shape[1]
    order = sorted(range(len(pairs)), key=lambda i: ("both" in pairs[i], i))  # closed forms first
    m_a: list[int] = []
    m_b: list[int] = []
    best: tuple[int, int, tuple[str, str], PairPlan] | None = None

    def beaten(lb: int, i: int) -> bool:
        return best is not None and (lb > best[0] or (lb == best[0] and i > best[1]))

    for i in order:
        sa, sb = pairs[i]
        if sa == "both" and (sa, planner.digits) not in planner.a_plans:
            if not m_a:
                m_a.append(planner.A.matching_size())
            extra_k, n_low = planner.b_least(sb)
            if beaten(_split_bound(M, K + extra_k, m_a[0]) * n_low, i):
                continue
        if sb == "both":
            if not m_b:
                m_b.append(planner.B.transposed().matching_size())
            a_kinds = [pa for pa, _ in planner.kinds(sa, sb)] if sa == "both" else [planner.digits]
            bound = min(a.lines * _split_bound(N, a.k_positions, m_b[0])
                        for a in (planner.a_plan(sa, pa) for pa in a_kinds))
            if beaten(bound, i):
                continue
        plan = planner.plan(sa, sb)
        if best is None or plan.macs < best[0] or (plan.macs == best[0] and i < best[1]):
            best = (plan.macs, i, pairs[i], plan)
    assert best is not None
    return best[2], best[3]


def pair_costs(A: np.ndarray, B: np.ndarray, a_bits: int, w_bits: int | None = None,
               digits: str = "signmag") -> dict[tuple[str, str], tuple[int, int, int]]:
    """Low-bit shape (M', K', N') of every (A strategy, B strategy) pair, e.g. for cost
    objectives (cycles, energy) that rank pairs by more than MACs. Integer operands."""
    w_bits = a_bits if w_bits is None else w_bits
    A = np.asarray(A)
    B = np.asarray(B)
    return {k: p.shape for k, p in pair_plans(A, B, a_bits, w_bits, digits).items()}
