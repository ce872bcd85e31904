"""Weight-stationary (ws) dataflow: B[k, n] is held in PE (k mod R, n mod C).

Rows <- K, columns <- N, M streams: row m of A enters from the left edge, A[m, k] into array
row k in cycle m + k (skewed); partial sums flow down the columns and C[m, n] leaves the bottom
of column n. Cycle 0 = the first weight enters the top edge.

Events of one full fold (rows R, cols C, stream length T = M):
  * weights shift down from the top edge: R cycles until every PE holds its weight
  * PE(k, j) does the MAC of A row m in cycle R + m + k + j; the last PE's first MAC is in
    cycle R + (R - 1) + (C - 1)                                 -> fill = 2R + C - 2
  * its last MAC, for m = M - 1, is M - 1 cycles later and its sum leaves the bottom edge
    as it is produced                                           -> + M, drain = 0
  One fold = 2R + C + M - 2 cycles (SCALE-Sim 3.0.0 counts the same per fold, reporting the
  sum minus one).
Pipelined: the next fold's weights shift into a second (shadow) weight register per PE while
the current fold streams (TPU v1 double-buffers its weight tile this way); each PE switches
registers when the next fold's first activation reaches it. Folds start every max(M, R) cycles.
"""
from __future__ import annotations

from imsim.array.mapping import ComputeTiming, Mapping, build_mapping, fold_timing

STATIONARY = "B"


def fill_cycles(rows: int, cols: int) -> int:
    """Weight preload (rows) plus skew until the last PE's first MAC (rows + cols - 2)."""
    return 2 * rows + cols - 2


def drain_cycles(rows: int, cols: int, timing: str) -> int:
    """Results leave the bottom edge as they are produced: no extra drain."""
    return 0


def map_gemm(M: int, K: int, N: int, rows: int, cols: int) -> Mapping:
    """Fold K over the rows and N over the columns; M streams."""
    return build_mapping(M, K, N, rows, cols, "ws")


def compute_timing(mapping: Mapping, timing: str) -> ComputeTiming:
    """Compute cycles of a ws mapping in the given timing mode."""
    R, C = mapping.rows, mapping.cols
    return fold_timing(mapping, timing, fill_cycles(R, C), drain_cycles(R, C, "pipelined"),
                       drain_cycles(R, C, "scalesim"))
