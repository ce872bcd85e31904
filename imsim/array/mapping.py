"""Mapping of a GEMM C = A @ B (A: M x K, B: K x N) onto an R x C systolic array: the shared
data types (`Tile`, `Mapping`, `ComputeTiming`) and the generic fold arithmetic.

Each dataflow (os.py, ws.py, is_.py) says which GEMM axis lies along the array rows, which
along the columns, and which streams through in time (the *temporal* axis, length T):

    dataflow  stationary  rows <- axis  cols <- axis  temporal T
    os        C           M             N             K
    ws        B           K             N             M
    is        A           K             M             N

A *fold* is one placement of a (<= R) x (<= C) block of the two spatial axes on the array,
streaming the full temporal axis. Folds run column-fold major, row-fold minor (SCALE-Sim's
order), so for ws/is the K folds of one output block are consecutive.
All counts are plain Python ints; no I/O.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Iterator

from imsim.errors import bad_value

DATAFLOWS = ("os", "ws", "is")
TIMINGS = ("scalesim", "pipelined")


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for positive ints."""
    return -(-a // b)


def check_dims(M: int, K: int, N: int, rows: int, cols: int) -> tuple[int, int, int, int, int]:
    """(M, K, N, rows, cols) as Python ints; UserError unless each is an integer >= 1
    (numpy integers are accepted)."""
    out = []
    for field, value in (("M", M), ("K", K), ("N", N), ("rows", rows), ("cols", cols)):
        try:
            if isinstance(value, bool):
                raise TypeError
            v = operator.index(value)
        except TypeError:
            raise bad_value(None, field, value, "an integer >= 1") from None
        if v < 1:
            raise bad_value(None, field, value, "an integer >= 1")
        out.append(v)
    return tuple(out)  # type: ignore[return-value]


@dataclass(frozen=True)
class Tile:
    """One fold's slice of the GEMM, half-open index ranges: A[m0:m1, k0:k1], B[k0:k1, n0:n1]
    contribute to C[m0:m1, n0:n1]."""

    m0: int
    m1: int
    k0: int
    k1: int
    n0: int
    n1: int

    @property
    def shape(self) -> tuple[int, int, int]:
        """(M, K, N) extent of the tile."""
        return (self.m1 - self.m0, self.k1 - self.k0, self.n1 - self.n0)

    @property
    def macs(self) -> int:
        """Useful multiply-accumulates in this tile."""
        m, k, n = self.shape
        return m * k * n


AXES = {  # dataflow -> (stationary operand, row axis, col axis, temporal axis)
    "os": ("C", "M", "N", "K"),
    "ws": ("B", "K", "N", "M"),
    "is": ("A", "K", "M", "N"),
}


@dataclass(frozen=True)
class Mapping:
    """How a GEMM folds onto the array for one dataflow.

    row_dim / col_dim / temporal_dim name the GEMM axes ('M', 'K', 'N') placed along the array
    rows, the columns, and streamed in time. folds = row_folds * col_folds.
    mapping_efficiency = (row extent * col extent) / (folds * rows * cols): the mean fraction of
    PEs holding a useful stationary element per fold (SCALE-Sim's "mapping efficiency").
    """

    dataflow: str
    rows: int
    cols: int
    M: int
    K: int
    N: int
    stationary: str
    row_dim: str
    col_dim: str
    temporal_dim: str
    row_folds: int
    col_folds: int
    folds: int
    mapping_efficiency: float

    def _extent(self, axis: str) -> int:
        return {"M": self.M, "K": self.K, "N": self.N}[axis]

    @property
    def temporal(self) -> int:
        """Length T of the streamed axis (cycles one PE is busy per fold)."""
        return self._extent(self.temporal_dim)

    def tiles(self) -> Iterator[Tile]:
        """Folds in execution order (column folds outer, row folds inner)."""
        sr, sc, t = self._extent(self.row_dim), self._extent(self.col_dim), self.temporal
        for fc in range(self.col_folds):
            c0, c1 = fc * self.cols, min((fc + 1) * self.cols, sc)
            for fr in range(self.row_folds):
                r0, r1 = fr * self.rows, min((fr + 1) * self.rows, sr)
                ranges = {self.row_dim: (r0, r1), self.col_dim: (c0, c1),
                          self.temporal_dim: (0, t)}
                (m0, m1), (k0, k1), (n0, n1) = ranges["M"], ranges["K"], ranges["N"]
                yield Tile(m0, m1, k0, k1, n0, n1)


def build_mapping(M: int, K: int, N: int, rows: int, cols: int, dataflow: str) -> Mapping:
    """Fold arithmetic shared by all dataflows (axes from the table in the module doc)."""
    M, K, N, rows, cols = check_dims(M, K, N, rows, cols)
    if dataflow not in AXES:
        raise bad_value(None, "dataflow", dataflow, "one of " + ", ".join(DATAFLOWS))
    stationary, row_dim, col_dim, temporal_dim = AXES[dataflow]
    ext = {"M": M, "K": K, "N": N}
    sr, sc = ext[row_dim], ext[col_dim]
    row_folds, col_folds = ceil_div(sr, rows), ceil_div(sc, cols)
    folds = row_folds * col_folds
    return Mapping(dataflow=dataflow, rows=rows, cols=cols, M=M, K=K, N=N,
                   stationary=stationary, row_dim=row_dim, col_dim=col_dim,
                   temporal_dim=temporal_dim, row_folds=row_folds, col_folds=col_folds,
                   folds=folds, mapping_efficiency=(sr * sc) / (folds * rows * cols))


@dataclass(frozen=True)
class ComputeTiming:
    """Compute cycles of one GEMM on the array (no memory stalls; see imsim.memory).

    cycles            total array cycles for the GEMM
    folds             number of folds
    fold_cycles       cycles of one full fold run alone (first operand in -> last result out)
    fill_cycles       exposed fill cycles, summed over the GEMM (before a fold's last PE starts)
    stream_cycles     folds * T: cycles the busiest PE spends doing MACs
    bubble_cycles     pipelined: idle gaps between folds when T < rows (0 in scalesim mode)
    drain_cycles      exposed drain cycles, summed over the GEMM (last MAC -> last result out)
    utilization       macs / (rows * cols * cycles)
    mapping_efficiency see Mapping
    macs              useful multiply-accumulates, M * K * N
    timing            'scalesim' or 'pipelined'

    pipelined: cycles = fill + stream + bubble + drain.
    scalesim:  cycles = fill + stream + drain - 1 (SCALE-Sim 3.0.0 reports the 0-based index
               of the last cycle), at least 1. Like SCALE-Sim, utilization can then exceed 1
               on a 1 x 1 array (F*K MACs in F*K - 1 cycles).
    """

    cycles: int
    folds: int
    fold_cycles: int
    fill_cycles: int
    stream_cycles: int
    bubble_cycles: int
    drain_cycles: int
    utilization: float
    mapping_efficiency: float
    macs: int
    timing: str
    dataflow: str

    def to_dict(self) -> dict:
        """Flat dict of the fields."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def fold_timing(mapping: Mapping, timing: str, fill: int, drain_pipelined: int,
                drain_scalesim: int) -> ComputeTiming:
    """Assemble a ComputeTiming from one dataflow's per-fold fill/drain (cycles).

    One fold alone takes fill + T + drain cycles. `pipelined`: a new fold starts every
    max(T, rows) cycles (its fill hides under the previous fold's stream and drain), so
    cycles = fill + F*T + (F-1)*max(0, rows - T) + drain. `scalesim`: folds run back to back
    without overlap and SCALE-Sim's drain, cycles = F*(fill + T + drain_scalesim) - 1.
    """
    if timing not in TIMINGS:
        raise bad_value(None, "timing", timing, "one of " + ", ".join(TIMINGS))
    F, T, R = mapping.folds, mapping.temporal, mapping.rows
    macs = mapping.M * mapping.K * mapping.N
    if timing == "pipelined":
        fold_cycles = fill + T + drain_pipelined
        bubble = (F - 1) * max(0, R - T)
        fill_total, drain_total = fill, drain_pipelined
        cycles = fill_total + F * T + bubble + drain_total
    else:
        fold_cycles = fill + T + drain_scalesim
        bubble = 0
        fill_total, drain_total = F * fill, F * drain_scalesim
        # SCALE-Sim reports the 0-based index of the last cycle; on a 1x1 array with
        # M = K = N = 1 that is 0 (SCALE-Sim itself then divides by zero): floor at 1.
        cycles = max(1, F * fold_cycles - 1)
    return ComputeTiming(cycles=cycles, folds=F, fold_cycles=fold_cycles,
                         fill_cycles=fill_total, stream_cycles=F * T, bubble_cycles=bubble,
                         drain_cycles=drain_total,
                         utilization=macs / (mapping.rows * mapping.cols * cycles),
                         mapping_efficiency=mapping.mapping_efficiency, macs=macs,
                         timing=timing, dataflow=mapping.dataflow)
