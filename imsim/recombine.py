"""The recombination unit: a vector shift-and-add after the array (`recomb_lanes` elements per
cycle, signed `recomb_acc_bits` accumulators) that folds the partial results of extra rows,
extra columns and K scale passes back into C.

Work (`recomb_ops`): one shift-and-add per array output element that is not a *base* element,
i.e. not (row < M, col < N) of the first pass: ops = passes * M' * N' - M * N. Timing is in the
memory pipeline (imsim.memory): an output tile's ops are done when the tile is final, while
later folds compute; only what remains after the array's last fold is exposed.

Values (`recombine_exact`): contributions are added level by level: pass by pass, then by row
digit level (the base rows first, then each destination's first extra row, ...), then by column
level. After each block the accumulator range is checked and the overflow policy applied.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imsim.errors import AccumulatorOverflow
from imsim.execute import PassResult, acc_range, wrap_to

_I64_SAFE = 1 << 62


def block_ops(rows: int, base_rows: int, cols: int, base_cols: int) -> int:
    """Shift-and-add ops for a block of final outputs: every element except base x base."""
    return rows * cols - base_rows * base_cols


def total_ops(passes: int, low_rows: int, low_cols: int, M: int, N: int) -> int:
    """Ops for a whole unpacked GEMM: passes * M' * N' - M * N."""
    return passes * low_rows * low_cols - M * N


def exposed_cycles(spans: list, array_end: float) -> float:
    """Recombination busy time after the array's end (cycles) from (start, end) busy spans."""
    return sum(max(0.0, b - max(a, array_end)) for a, b in spans)


def _levels(src: np.ndarray) -> np.ndarray:
    """Level of each line within its destination group (0 for the first, in index order)."""
    order = np.argsort(src, kind="stable")
    s = src[order]
    start = np.ones(s.size, dtype=bool)
    start[1:] = s[1:] != s[:-1]
    group_start = np.maximum.accumulate(np.where(start, np.arange(s.size), 0))
    lvl = np.empty(s.size, dtype=np.int64)
    lvl[order] = np.arange(s.size) - group_start
    return lvl


def _as_index(idx: np.ndarray):
    """A slice when idx is a contiguous ascending range (cheap views), else idx itself."""
    if idx.size and idx[-1] - idx[0] == idx.size - 1 and (idx.size < 3 or (idx[1:] - idx[:-1] == 1).all()):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _grid(rows, cols):
    """Index of the block rows x cols: two slices when both are (`_as_index`), else np.ix_."""
    if isinstance(rows, slice) and isinstance(cols, slice):
        return rows, cols
    return np.ix_(np.arange(rows.start, rows.stop) if isinstance(rows, slice) else rows,
                  np.arange(cols.start, cols.stop) if isinstance(cols, slice) else cols)


@dataclass(frozen=True)
class _Group:
    """The lines of one digit level: positions in the pass result, destinations in C (both as
    `_as_index` gives them, and destinations as an array) and shifts (bits)."""

    pos: object
    dst: object
    dst_lines: np.ndarray
    shift: np.ndarray
    max_shift: int
    shifted: bool  # any shift non-zero


def _groups(src: np.ndarray, shift: np.ndarray) -> list[_Group]:
    """Lines grouped by digit level (`_levels`), level 0 first."""
    lvl = _levels(src)
    out = []
    for lv in range(int(lvl.max()) + 1):
        g = np.flatnonzero(lvl == lv)
        sh = shift[g]
        out.append(_Group(_as_index(g), _as_index(src[g]), src[g], sh, int(sh.max()), bool(sh.any())))
    return out


@dataclass(frozen=True)
class RecombResult:
    """C rebuilt by the recombination unit and the accumulator overflows on the way."""

    C: np.ndarray    # M x N, int64 (object when wider)
    overflows: int   # element updates that left the recomb_acc_bits range


def _policy(new: np.ndarray, lo: int, hi: int, acc_bits: int, policy: str, name: str,
            where) -> tuple[np.ndarray, int]:
    """Apply the overflow policy to freshly updated accumulators; `where(a, b)` names C's index."""
    bad = (new > hi) | (new < lo)
    if not np.any(bad):
        return new, 0
    if policy == "error":
        a, b = (int(x) for x in np.argwhere(bad)[0])
        r, c = where(a, b)
        raise AccumulatorOverflow(
            f"{name}: recombination accumulator overflow at C[{r},{c}]: value {int(new[a, b])} outside "
            f"the {acc_bits}-bit range [{lo}, {hi}]; raise recomb_acc_bits or set overflow=wrap|saturate")
    n = int(np.count_nonzero(bad))
    return (wrap_to(new, acc_bits) if policy == "wrap" else np.clip(new, lo, hi)), n


def recombine_exact(passes: list[PassResult], plan, M: int, N: int, *, acc_bits: int,
                    policy: str, name: str = "gemm") -> RecombResult:
    """Fold the pass results into C with the plan (shifts in bits) in recomb_acc_bits."""
    lo, hi = acc_range(acc_bits)
    row_src = np.asarray(plan.row_src, dtype=np.int64)
    col_src = np.asarray(plan.col_src, dtype=np.int64)
    row_shift = np.asarray(plan.row_shift, dtype=np.int64)
    col_shift = np.asarray(plan.col_shift, dtype=np.int64)
    row_groups, col_groups = _groups(row_src, row_shift), _groups(col_src, col_shift)
    # cheap bound on every partial sum of the recombination
    rsum = sum(1 << g.max_shift for g in row_groups)
    csum = sum(1 << g.max_shift for g in col_groups)
    bound = 0
    for p in passes:
        m = max(int(p.acc.max()), -int(p.acc.min())) if p.acc.size else 0
        bound += (m << p.shift_bits) * rsum * csum
    big = bound >= _I64_SAFE or any(p.acc.dtype == object for p in passes)
    check = bound > hi
    C = None
    overflows = 0
    n_blocks = len(passes) * len(row_groups) * len(col_groups)
    for p in passes:
        acc = p.acc.astype(object) if big else p.acc.astype(np.int64, copy=False)
        for ri in row_groups:
            for cj in col_groups:
                block = acc[_grid(ri.pos, cj.pos)]
                if p.shift_bits or ri.shifted or cj.shifted:  # else every shift is 0
                    shifts = p.shift_bits + ri.shift[:, None] + cj.shift[None, :]
                    if big:
                        block = block * np.vectorize(lambda s: 1 << int(s), otypes=[object])(shifts)
                    elif np.any(shifts):
                        block = block << shifts
                ix = _grid(ri.dst, cj.dst)
                if C is None:  # the first block lands on zeros
                    if block.shape == (M, N) and isinstance(ix[0], slice) and isinstance(ix[1], slice):
                        C = block.copy() if n_blocks > 1 and np.may_share_memory(block, acc) else block
                        new = C
                    else:
                        C = np.zeros((M, N), dtype=object if big else np.int64)
                        new = block
                else:
                    new = C[ix] + block
                if check:
                    new, n = _policy(new, lo, hi, acc_bits, policy, name,
                                     lambda a, b: (int(ri.dst_lines[a]), int(cj.dst_lines[b])))
                    overflows += n
                if new is not C:
                    C[ix] = new
    return RecombResult(C, overflows)
