"""IM-Unpack: turn an integer GEMM with large entries into one low-bit GEMM plus a
recombination plan that rebuilds the exact result.

Digits (imsim.digits): base s = 2^(b-1). `signmag` (default) writes x with truncating digits
x = sign(x) * sum_l d_l s^l, 0 <= d_l <= s-1, so small entries have zero high digits whatever
their sign; `floor` is the paper's (x % s, x // s: non-negative low digits, the top level keeps
the signed rest). Every digit lies in the b-bit range [-(s-1), s-1]; both are exact.

Strategies, applied to one operand X (lines x K) at a time:
- row:  every line with an out-of-range entry keeps its low digits; its higher digit levels
        become extra lines (shifted by l(b-1) bits when recombined);
- col:  the same along K: out-of-range columns split into digit columns; the other operand's
        matching K line is duplicated and the product carries a K-axis shift;
- both: greedy, one line at a time: split whichever line or column holds the most
        out-of-range entries (ties to the line) until none is left.
A GEMM unpacks A (lines = M), then B^T (lines = N) with the K duplications A's step made.
`auto` tries every (A strategy, B strategy) pair and keeps the fewest MACs.

Exactness: for each original triple (r, k, c), the absolute values of all its expanded terms
sum to |A[r,k]| |B[k,c]|, so every intermediate of the recombination is bounded by
K * max|A| * max|B|; below 2^63 int64 is exact, above it Python integers are used.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from imsim.digits import check_digits, digit, split
from imsim.errors import UserError, bad_value
from imsim.quantize import check_bits, qmax
from imsim.reference import (  # noqa: F401  (re-exported: the exact product lives there)
    I64_SAFE, MATMUL_METHODS, exact_matmul, int_matmul, integer_matrix, reference_gemm,
)
from imsim.unpack_cost import OperandPlan, cheapest_pair, greedy_splits, line_levels, pair_plans

STRATEGIES = ("none", "row", "col", "both", "auto")
_BASE_STRATEGIES = ("row", "col", "both")
_INT64_MAX = (1 << 63) - 1


_INT_DTYPES = tuple((int(np.iinfo(dt).max), np.dtype(dt)) for dt in (np.int8, np.int16, np.int32, np.int64))


def smallest_int_dtype(max_abs: int) -> np.dtype:
    """Smallest signed numpy integer dtype holding [-max_abs, max_abs]."""
    for top, dt in _INT_DTYPES:
        if max_abs <= top:
            return dt
    raise ValueError(f"{max_abs} does not fit int64")


# --------------------------------------------------------------------------- plan / result


@dataclass(frozen=True)
class UnpackPlan:
    """How partial results of the low-bit GEMM fold back into C (all int64 arrays).

    C[row_src[i], col_src[j]] += sum_k (A_u[i,k] * B_u[k,j]) << (k_shift[k] + row_shift[i] + col_shift[j])
    Shifts are in bits. The first M rows (N columns) are the original lines, unshifted.
    """

    row_src: np.ndarray
    row_shift: np.ndarray
    col_src: np.ndarray
    col_shift: np.ndarray
    k_src: np.ndarray
    k_shift: np.ndarray

    @property
    def extra_rows(self) -> int:
        """Rows added by unpacking (M' - M)."""
        return int(np.count_nonzero(self.row_shift)) if self.row_src.size else 0

    @property
    def extra_cols(self) -> int:
        """Columns of C's side added by unpacking (N' - N)."""
        return int(np.count_nonzero(self.col_shift)) if self.col_src.size else 0


@dataclass(frozen=True)
class UnpackedGemm:
    """One low-bit GEMM (A_u: M' x K', B_u: K' x N') and its recombination plan.

    Every |A_u| <= qmax(a_bits) and |B_u| <= qmax(w_bits); both are stored in the smallest
    signed integer dtype that holds the range. `abs_bound` = K * max|A| * max|B| of the
    original operands: the bound on every intermediate of an exact recombination.
    """

    A: np.ndarray
    B: np.ndarray
    plan: UnpackPlan
    a_bits: int
    w_bits: int
    strategy: str
    shape: tuple[int, int, int]
    abs_bound: int
    digits: str = "signmag"

    @property
    def low_shape(self) -> tuple[int, int, int]:
        """(M', K', N') of the low-bit GEMM actually run."""
        return (self.A.shape[0], self.A.shape[1], self.B.shape[1])

    @property
    def macs(self) -> int:
        """Low-bit MACs actually run: M' K' N'."""
        m, k, n = self.low_shape
        return m * k * n

    @property
    def useful_macs(self) -> int:
        """MACs of the original GEMM: M K N."""
        m, k, n = self.shape
        return m * k * n

    @property
    def unpack_ratio(self) -> float:
        """macs / useful_macs (1.0 = no overhead)."""
        return self.macs / self.useful_macs if self.useful_macs else 1.0

    @property
    def k_classes(self) -> np.ndarray:
        """Distinct K-axis shifts (bits): the scale classes for `scale_passes`."""
        return np.unique(self.plan.k_shift)

    @property
    def needs_python_ints(self) -> bool:
        """True when intermediates may exceed int64 (recombination then uses Python ints)."""
        return self.abs_bound > _INT64_MAX

    def summary(self) -> dict:
        """Shapes, MACs and unpack ratio as a flat dict (units in the names)."""
        m, k, n = self.shape
        lm, lk, ln = self.low_shape
        return {
            "strategy": self.strategy, "a_bits": self.a_bits, "w_bits": self.w_bits,
            "M": m, "K": k, "N": n, "M_low": lm, "K_low": lk, "N_low": ln,
            "useful_macs": self.useful_macs, "macs": self.macs, "unpack_ratio": self.unpack_ratio,
            "k_classes": int(self.k_classes.size), "digits": self.digits,
        }


# --------------------------------------------------------------------------- one operand


@dataclass(frozen=True)
class OperandUnpack:
    """An operand X (L x K) unpacked to X_u (L' x K') with every entry inside its range."""

    X: np.ndarray  # integer matrix (dtype as narrow as its entries allow)
    line_src: np.ndarray
    line_shift: np.ndarray
    k_src: np.ndarray
    k_shift: np.ndarray


def _identity(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n, dtype=np.int64), np.zeros(n, dtype=np.int64)


def _narrow(X: np.ndarray) -> np.ndarray:
    """X in the smallest signed dtype holding +-max|X| (less memory traffic below)."""
    if not X.size:
        return X
    m = max(int(X.max()), -int(X.min()))
    return X.astype(smallest_int_dtype(m), copy=False)


def _unpack_axis(X: np.ndarray, bits: int, axis: int, digits: str = "signmag",
                 all_levels: np.ndarray | None = None) -> OperandUnpack:
    """Split every line along `axis` (0: rows = `row` strategy, 1: K columns = `col` strategy)
    that holds an out-of-range entry into its digit lines, appended after the originals
    (level by level, lines in index order, as the paper's unpack_row / unpack_column).
    `all_levels`: digit levels per line from a plan (default: computed with `digits`)."""
    sbits = bits - 1
    lim = qmax(bits)
    X = _narrow(X)
    n_lines = X.shape[axis]
    if all_levels is None:
        all_levels = line_levels(X, bits, axis, digits)
    heavy = np.flatnonzero(all_levels > 1)
    src, shift = _identity(n_lines)
    other_src, other_shift = _identity(X.shape[1 - axis])
    if heavy.size == 0:
        return OperandUnpack(X, src, shift, other_src, other_shift) if axis == 0 else \
            OperandUnpack(X, other_src, other_shift, src, shift)
    out_dtype = smallest_int_dtype(lim)
    levels = all_levels[heavy]
    # level 0 of every line: in-range lines are their own low digits (the cast wraps the heavy
    # lines' entries, which their low digits then replace; level 0 is never a heavy line's top)
    low = X.astype(out_dtype)
    heavy_low = digit(np.take(X, heavy, axis=axis), 0, False, sbits, digits).astype(out_dtype)
    if axis == 0:
        low[heavy] = heavy_low
    else:
        low[:, heavy] = heavy_low
    blocks = [low]
    src_parts, shift_parts = [src], [shift]
    for level in range(1, int(levels.max())):
        sel = levels > level
        lines = heavy[sel]
        top = levels[sel] == level + 1
        blocks.append(digit(np.take(X, lines, axis=axis), level,
                            top[:, None] if axis == 0 else top[None, :], sbits, digits).astype(out_dtype))
        src_parts.append(lines.astype(np.int64))
        shift_parts.append(np.full(lines.size, level * sbits, dtype=np.int64))
    Xu = np.concatenate(blocks, axis=axis)
    src, shift = np.concatenate(src_parts), np.concatenate(shift_parts)
    if axis == 0:
        return OperandUnpack(Xu, src, shift, other_src, other_shift)
    return OperandUnpack(Xu, other_src, other_shift, src, shift)


def _unpack_lines(X: np.ndarray, bits: int, digits: str = "signmag") -> OperandUnpack:
    """`row` strategy: split every line holding an out-of-range entry into digit lines."""
    return _unpack_axis(X, bits, 0, digits)


def _unpack_cols(X: np.ndarray, bits: int, digits: str = "signmag") -> OperandUnpack:
    """`col` strategy: split every K column holding an out-of-range entry into digit columns."""
    return _unpack_axis(X, bits, 1, digits)


class _Grower:
    """A 2-D integer buffer that grows along both axes with amortised doubling."""

    def __init__(self, X: np.ndarray) -> None:
        self.rows, self.cols = X.shape
        self.buf = np.zeros((max(4, self.rows * 5 // 4), max(4, self.cols * 5 // 4)), dtype=X.dtype)
        self.buf[: self.rows, : self.cols] = X

    def _ensure(self, rows: int, cols: int) -> None:
        r_cap, c_cap = self.buf.shape
        if rows <= r_cap and cols <= c_cap:
            return
        new_r = r_cap if rows <= r_cap else max(rows, 2 * r_cap)
        new_c = c_cap if cols <= c_cap else max(cols, 2 * c_cap)
        new = np.zeros((new_r, new_c), dtype=self.buf.dtype)
        new[: self.rows, : self.cols] = self.buf[: self.rows, : self.cols]
        self.buf = new

    def add_row(self, values: np.ndarray) -> None:
        self._ensure(self.rows + 1, self.cols)
        self.buf[self.rows, : self.cols] = values
        self.rows += 1

    def add_col(self, values: np.ndarray) -> None:
        self._ensure(self.rows, self.cols + 1)
        self.buf[: self.rows, self.cols] = values
        self.cols += 1

    def view(self) -> np.ndarray:
        return self.buf[: self.rows, : self.cols]


def _grow(arr: np.ndarray, n: int) -> np.ndarray:
    """Return arr with capacity for at least n entries (doubling)."""
    if n <= arr.size:
        return arr
    out = np.zeros(max(n, arr.size * 2), dtype=arr.dtype)
    out[: arr.size] = arr
    return out


def _split_line(x: np.ndarray, sbits: int, lim: int, digits: str) -> tuple[np.ndarray, ...]:
    """One greedy step on a line x: (low digits, the rest, x out of range, rest out of range)."""
    low, rest = split(x, sbits, digits)
    return low, rest, np.abs(x) > lim, np.abs(rest) > lim


def _unpack_both(X: np.ndarray, bits: int, digits: str = "signmag",
                 splits: tuple[tuple[int, int], ...] | None = None) -> OperandUnpack:
    """`both` strategy: greedy, one line at a time (most out-of-range entries first, ties to
    rows; `imsim.unpack_cost.greedy_splits`), replayed here on the values. `splits`: the
    ((axis, index), ...) sequence of a plan (default: the greedy under `digits`)."""
    sbits = bits - 1
    X = _narrow(X)
    L, K = X.shape
    if splits is None:
        splits = greedy_splits(X, bits, digits)[0]
    line_src, line_shift = _identity(L)
    k_src, k_shift = _identity(K)
    if not splits:
        return OperandUnpack(X, line_src, line_shift, k_src, k_shift)
    W = _Grower(X)
    for axis, i in splits:
        if axis == 0:  # split line i into its low digit and the rest
            low, rest = split(W.buf[i, : W.cols], sbits, digits)
            W.buf[i, : W.cols] = low
            W.add_row(rest)
            line_src = _grow(line_src, W.rows)
            line_shift = _grow(line_shift, W.rows)
            line_src[W.rows - 1] = line_src[i]
            line_shift[W.rows - 1] = line_shift[i] + sbits
        else:  # split column i
            low, rest = split(W.buf[: W.rows, i], sbits, digits)
            W.buf[: W.rows, i] = low
            W.add_col(rest)
            k_src = _grow(k_src, W.cols)
            k_shift = _grow(k_shift, W.cols)
            k_src[W.cols - 1] = k_src[i]
            k_shift[W.cols - 1] = k_shift[i] + sbits
    return OperandUnpack(W.view().copy(), line_src[: W.rows].copy(), line_shift[: W.rows].copy(),
                         k_src[: W.cols].copy(), k_shift[: W.cols].copy())


def _materialise(X: np.ndarray, bits: int, digits: str, plan: OperandPlan) -> OperandUnpack:
    """Unpack X along `plan` (its lines decided by plan.plan_digits), digits filled by `digits`."""
    if plan.strategy == "both":
        return _unpack_both(X, bits, digits, plan.splits)
    return _unpack_axis(X, bits, 0 if plan.strategy == "row" else 1, digits, plan.levels)


_OPERAND_UNPACKERS: dict[str, Callable[[np.ndarray, int, str], OperandUnpack]] = {
    "row": _unpack_lines,
    "col": _unpack_cols,
    "both": _unpack_both,
}


def unpack_operand(X: np.ndarray, bits: int, strategy: str, digits: str = "signmag") -> OperandUnpack:
    """Unpack one integer operand X (lines x K) so every entry fits `bits` (strategy row|col|both,
    digits signmag|floor)."""
    bits = check_bits(bits)
    digits = check_digits(digits)
    if strategy not in _OPERAND_UNPACKERS:
        raise bad_value(None, "strategy", strategy, f"must be one of {', '.join(_BASE_STRATEGIES)}")
    return _OPERAND_UNPACKERS[strategy](_as_int64(X, "X"), bits, digits)


# --------------------------------------------------------------------------- GEMM


def _as_int64(X: np.ndarray, name: str) -> np.ndarray:
    arr = integer_matrix(X, name)
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > _INT64_MAX:
        raise bad_value(None, name, int(arr.max()), "entries must lie in +-(2^63-1)")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and int(arr.min()) == np.iinfo(np.int64).min:
        raise bad_value(None, name, int(arr.min()), "entries must lie in +-(2^63-1)")
    return arr


def absmax(X: np.ndarray) -> int:
    """max |X| as a Python int (0 for an empty array)."""
    return int(np.abs(X).max()) if X.size else 0


def _check_gemm(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(A, B, max|A|, max|B|) of a valid integer GEMM (int64 operands); UserError otherwise."""
    A = _as_int64(A, "A")
    B = _as_int64(B, "B")
    if A.shape[1] != B.shape[0]:
        raise UserError(f"shape mismatch: A is {A.shape[0]}x{A.shape[1]} and B is {B.shape[0]}x{B.shape[1]}; "
                        f"A's columns (K) must equal B's rows")
    if 0 in A.shape or 0 in B.shape:
        raise UserError(f"empty GEMM: A is {A.shape[0]}x{A.shape[1]}, B is {B.shape[0]}x{B.shape[1]}; "
                        f"every dimension must be at least 1")
    return A, B, absmax(A), absmax(B)


def _pair(opA: OperandUnpack, B: np.ndarray, w_bits: int, digits: str, plan: OperandPlan) -> tuple:
    """Second half of a GEMM unpack: B with A's K duplications, unpacked along N/K by `plan`."""
    B1 = B[opA.k_src] if opA.k_src.size != B.shape[0] else B
    opB = _materialise(B1.T, w_bits, digits, plan)  # lines = N, "K" = A's K' positions
    k_pos = opB.k_src
    A2 = opA.X[:, k_pos] if k_pos.size != opA.X.shape[1] else opA.X
    k_src = opA.k_src[k_pos]
    k_shift = opA.k_shift[k_pos] + opB.k_shift
    return A2, opB.X.T, opB.line_src, opB.line_shift, k_src, k_shift


def unpack_gemm(
    A: np.ndarray, B: np.ndarray, a_bits: int, w_bits: int | None = None, strategy: str = "auto",
    digits: str = "signmag",
    objective: Callable[[tuple[str, str], tuple[int, int, int]], float] | None = None,
    *, pair: tuple[str, str] | None = None,
) -> UnpackedGemm:
    """Unpack integer GEMM A (M x K) @ B (K x N) so A fits a_bits and B fits w_bits.

    strategy: 'none' (operands must already fit), 'row', 'col', 'both' or 'auto' (cheapest
    (A, B) strategy pair); digits: 'signmag' or 'floor' (imsim.digits); objective: what `auto`
    minimises, objective((sa, sb), (M', K', N')) (default: MACs M' K' N'; e.g. cycles or
    energy estimated from the low-bit shape). `pair` = (A strategy, B strategy)
    forces one pair (strategy label 'sa/sb'). Returns one low-bit GEMM plus the recombination plan.
    """
    a_bits = check_bits(a_bits, "a_bits")
    w_bits = a_bits if w_bits is None else check_bits(w_bits, "w_bits")
    digits = check_digits(digits)
    if strategy not in STRATEGIES:
        raise bad_value(None, "strategy", strategy, f"must be one of {', '.join(STRATEGIES)}")
    A, B, max_a, max_b = _check_gemm(A, B)
    M, K = A.shape
    N = B.shape[1]
    bound = K * max_a * max_b
    if strategy == "none":
        for name, m, b in (("A", max_a, a_bits), ("B", max_b, w_bits)):
            if m > qmax(b):
                raise UserError(
                    f"strategy none: {name} has entries up to {m}, outside the {b}-bit range "
                    f"+-{qmax(b)}; pick --strategy row, col, both or auto")
        pairs = [("row", "row")]  # a no-op on in-range operands
    elif strategy == "auto" and objective is None and max_a <= qmax(a_bits) and max_b <= qmax(w_bits):
        pairs = [("row", "row")]  # both operands fit: every pair is the same no-op, the first wins
    elif strategy == "auto":
        pairs = [(sa, sb) for sa in _BASE_STRATEGIES for sb in _BASE_STRATEGIES]
    else:
        pairs = [(strategy, strategy)]
    if pair is not None:
        if len(pair) != 2 or any(x not in _BASE_STRATEGIES for x in pair):
            raise bad_value(None, "pair", pair, f"two of {', '.join(_BASE_STRATEGIES)}")
        pairs = [tuple(pair)]

    # cost every candidate pair from its plan (no unpacked matrix built), then build the winner
    if objective is None:  # fewest MACs: pairs that provably cannot win are not planned
        (sa, sb), best = cheapest_pair(A, B, a_bits, w_bits, digits, pairs)
    else:
        plans = pair_plans(A, B, a_bits, w_bits, digits, pairs)
        (sa, sb), best = min(plans.items(), key=lambda kv: objective(kv[0], kv[1].shape))  # first minimum
    opA = _materialise(A, a_bits, digits, best.a)
    A2, B2, col_src, col_shift, k_src, k_shift = _pair(opA, B, w_bits, digits, best.b)
    if pair is not None:
        label = f"{sa}/{sb}"
    elif strategy == "auto":
        label = f"auto({sa},{sb})"
    else:
        label = strategy
    plan = UnpackPlan(row_src=opA.line_src, row_shift=opA.line_shift, col_src=col_src, col_shift=col_shift,
                      k_src=k_src, k_shift=k_shift)
    return UnpackedGemm(
        A=np.ascontiguousarray(A2.astype(smallest_int_dtype(qmax(a_bits)))),
        B=np.ascontiguousarray(B2.astype(smallest_int_dtype(qmax(w_bits)))),
        plan=plan, a_bits=a_bits, w_bits=w_bits, strategy=label, shape=(M, K, N), abs_bound=bound,
        digits=digits,
    )


# --------------------------------------------------------------------------- exact arithmetic


def _shifted(P: np.ndarray, shift: np.ndarray, axis: int) -> np.ndarray:
    """P with entries along `axis` multiplied by 2^shift (exact for int64 / object)."""
    if not np.any(shift):
        return P
    if P.dtype == object:
        factor = np.array([1 << int(s) for s in shift], dtype=object)
    else:
        factor = np.left_shift(np.int64(1), shift.astype(np.int64))
    return P * (factor[:, None] if axis == 0 else factor[None, :])


def _fold(P: np.ndarray, src: np.ndarray, shift: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Sum P's lines along `axis` into n_out lines: out[src[i]] += P[i] << shift[i]."""
    n = P.shape[axis]
    if n == n_out and np.array_equal(src, np.arange(n_out)) and not np.any(shift):
        return P
    moved = P if axis == 0 else P.T
    shifted = _shifted(moved, shift, 0)
    out_shape = (n_out, moved.shape[1])
    out = np.zeros(out_shape, dtype=P.dtype)
    head = min(n, n_out)
    if np.array_equal(src[:head], np.arange(head)) and not np.any(shift[:head]):
        out[:head] = shifted[:head]
        np.add.at(out, src[head:], shifted[head:])
    else:
        np.add.at(out, src, shifted)
    return out if axis == 0 else out.T


def low_bit_product(ug: UnpackedGemm) -> np.ndarray:
    """Exact P = A_u @ diag(2^k_shift) @ B_u (M' x N'), grouping K by scale class."""
    classes = ug.k_classes
    mul_bound = ug.A.shape[1] * qmax(ug.a_bits) * qmax(ug.w_bits)
    if classes.size <= 1:
        P = int_matmul(ug.A, ug.B, mul_bound)
        if ug.needs_python_ints:
            P = P.astype(object)
        return _shifted(P, np.full(P.shape[0], int(classes[0]) if classes.size else 0), 0)
    total = None
    for t in classes:
        idx = np.flatnonzero(ug.plan.k_shift == t)
        part = int_matmul(ug.A[:, idx], ug.B[idx, :], idx.size * qmax(ug.a_bits) * qmax(ug.w_bits))
        if ug.needs_python_ints:
            part = part.astype(object) * (1 << int(t))
        else:
            part = part << np.int64(t)
        total = part if total is None else total + part
    return total


def recombine(P: np.ndarray, plan: UnpackPlan, M: int, N: int) -> np.ndarray:
    """Fold the low-bit product P (M' x N', K-scales applied) into C (M x N) by shift-and-add."""
    C = _fold(P, plan.row_src, plan.row_shift, M, axis=0)
    return _fold(C, plan.col_src, plan.col_shift, N, axis=1)


def _to_int64(C: np.ndarray, what: str) -> np.ndarray:
    if C.dtype != object:
        return C.astype(np.int64, copy=False)
    if C.size and (max(C.flat) > _INT64_MAX or min(C.flat) < -_INT64_MAX - 1):
        raise UserError(f"{what}: the exact product does not fit int64 (entries up to "
                        f"{max(abs(int(v)) for v in C.flat)}); reduce the operand magnitudes")
    return C.astype(np.int64)


def exact_product(ug: UnpackedGemm) -> np.ndarray:
    """C rebuilt from the low-bit GEMM and the plan (int64; exactly A @ B)."""
    M, _, N = ug.shape
    return _to_int64(recombine(low_bit_product(ug), ug.plan, M, N), "recombined C")
