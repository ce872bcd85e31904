"""An integer operand's out-of-range entries, found in one pass, and what unpack planning reads
from them.

For a b-bit operand X (L x K) the *heavy* entries are those with |x| > qmax(b); every other
entry needs one digit level under either digit kind. So a line's digit levels (the most any of
its entries needs), the greedy's input (imsim.unpack_cost.greedy_splits_sparse), whether the
two digit kinds plan alike, and a matching lower bound all follow from the heavy entries alone:
one pass over X finds them, the rest costs O(number of heavy entries), whichever axis, digit
kind or transposition is asked for.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imsim.digits import entry_levels
from imsim.quantize import qmax


@dataclass(frozen=True)
class HeavyEntries:
    """Out-of-range entries of an integer matrix of `shape` for a `bits`-wide operand: rows,
    cols (int64 indices) and values (int64), in row-major order (as np.nonzero gives them)."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]
    bits: int
    _levels: dict = field(default_factory=dict, repr=False, compare=False)  # digits -> levels

    @property
    def count(self) -> int:
        """Number of out-of-range entries."""
        return int(self.values.size)

    def levels(self, digits: str) -> np.ndarray:
        """Digit levels (>= 2) of every heavy entry under `digits` (imsim.digits.entry_levels)."""
        if digits not in self._levels:
            self._levels[digits] = entry_levels(self.values, self.bits - 1, digits)
        return self._levels[digits]

    def line_levels(self, axis: int, digits: str) -> np.ndarray:
        """Digit levels of every line along `axis` (0: rows, 1: columns): the most any of its
        entries needs (1 for a line without heavy entries); int64, length shape[axis]."""
        out = np.ones(self.shape[axis], dtype=np.int64)
        if self.count:
            np.maximum.at(out, self.rows if axis == 0 else self.cols, self.levels(digits))
        return out

    def kinds_agree(self) -> bool:
        """True when every heavy entry needs as many signmag as floor digit levels: then every
        plan (line levels, and the greedy, whose counts follow those levels) is the same."""
        return bool(np.array_equal(self.levels("signmag"), self.levels("floor")))

    def transposed(self) -> "HeavyEntries":
        """The heavy entries of X^T, in X^T's row-major order."""
        order = np.argsort(self.cols, kind="stable")  # rows stay ascending within a column
        return HeavyEntries(self.cols[order], self.rows[order], self.values[order],
                            (self.shape[1], self.shape[0]), self.bits)

    def matching_size(self) -> int:
        """Size of a maximal matching of the heavy entries (a row and a column each used once),
        taken greedily in row-major order: every plan must split the row or the column of each
        such entry, so the greedy's line splits are at least a minimum vertex cover >= it."""
        used_r: set[int] = set()
        used_c: set[int] = set()
        for i, j in zip(self.rows.tolist(), self.cols.tolist()):
            if i not in used_r and j not in used_c:
                used_r.add(i)
                used_c.add(j)
        return len(used_r)


def find_heavy(X: np.ndarray, bits: int) -> HeavyEntries:
    """The out-of-range entries (|x| > qmax(bits)) of integer matrix X (L x K)."""
    r, c = np.nonzero(np.abs(X) > qmax(bits))
    return HeavyEntries(r.astype(np.int64, copy=False), c.astype(np.int64, copy=False),
                        X[r, c].astype(np.int64), (int(X.shape[0]), int(X.shape[1])), int(bits))
