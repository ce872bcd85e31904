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
When a bound on every partial sum shows that none can leave the accumulator (nor int64), the
order of the additions cannot matter and the check finds nothing: each pass is then folded
row level by row level, then column level by column level (`_fold`), the same exact sums.
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


def _index(lines: list[int]):
    """A slice when `lines` is a contiguous ascending range (cheap views), else an int64 array."""
    if lines[-1] - lines[0] == len(lines) - 1 and lines == list(range(lines[0], lines[-1] + 1)):
        return slice(lines[0], lines[-1] + 1)
    return np.array(lines, dtype=np.int64)


def _grid(rows, cols):
    """Index of the block rows x cols (each a slice or an index array): two slices, or np.ix_."""
    if isinstance(rows, slice) and isinstance(cols, slice):
        return rows, cols
    return np.ix_(np.arange(rows.start, rows.stop) if isinstance(rows, slice) else rows,
                  np.arange(cols.start, cols.stop) if isinstance(cols, slice) else cols)


@dataclass(frozen=True)
class _Group:
    """The lines of one digit level: positions in the pass result and destinations in C (as
    `_index` gives them), destinations as an array, shifts (bits)."""

    pos: object
    dst: object
    dst_lines: np.ndarray
    shift: np.ndarray
    max_shift: int
    shifted: bool  # any shift non-zero


def _groups(src: np.ndarray, shift: np.ndarray) -> list[_Group]:
    """Lines by digit level, level 0 first: a line's level is the number of lines before it
    (in index order) with the same destination."""
    members: list[list[int]] = []  # line positions per level, ascending
    seen: dict[int, int] = {}
    for i, dst in enumerate(src.tolist()):
        level = seen.get(dst, 0)
        seen[dst] = level + 1
        if level == len(members):
            members.append([])
        members[level].append(i)
    src_of, shift_of = src.tolist(), shift.tolist()
    out = []
    for pos in members:
        dst = [src_of[i] for i in pos]
        sh = [shift_of[i] for i in pos]
        out.append(_Group(_index(pos), _index(dst), np.array(dst, dtype=np.int64), np.array(sh, dtype=np.int64),
                          max(sh), any(sh)))
    return out


def _fold_axis(X: np.ndarray, groups: list[_Group], n: int, axis: int) -> np.ndarray:
    """X's lines along `axis` added, shifted, onto their n destinations (int64), one digit level
    at a time (a level's destinations are distinct)."""
    out = np.zeros((n, X.shape[1]) if axis == 0 else (X.shape[0], n), dtype=np.int64)
    for g in groups:
        if axis == 0:
            block = X[g.pos]
            out[g.dst] += (block << g.shift[:, None]) if g.shifted else block
        else:
            block = X[:, g.pos]
            out[:, g.dst] += (block << g.shift[None, :]) if g.shifted else block
    return out


def _fold(passes: list[PassResult], row_groups: list[_Group], col_groups: list[_Group], M: int,
          N: int) -> np.ndarray:
    """C (int64) from the passes when no partial sum of any order can overflow int64 or the
    accumulator: rows folded, then columns, per pass."""
    C = None
    for p in passes:
        acc = p.acc.astype(np.int64, copy=False)
        if p.shift_bits:
            acc = acc << p.shift_bits
        part = _fold_axis(_fold_axis(acc, row_groups, M, 0), col_groups, N, 1)
        C = part if C is None else C + part
    return C


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
    if not big and not check and passes:  # every partial sum of any order fits: order-free sums
        return RecombResult(_fold(passes, row_groups, col_groups, M, N), 0)
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
