"""Input-stationary (is) dataflow: A[m, k] is held in PE (k mod R, m mod C).

Rows <- K, columns <- M, N streams: column n of B enters from the left edge, B[k, n] into
array row k in cycle n + k (skewed); partial sums flow down the columns and C[m, n] leaves the
bottom of column m. It is ws with the roles of A and B swapped (C^T = B^T A^T).

Events of one full fold (rows R, cols C, stream length T = N):
  * the stationary A block shifts down from the top edge: R cycles
  * the last PE's first MAC is in cycle R + (R - 1) + (C - 1)   -> fill = 2R + C - 2
  * N MACs later its last sum leaves the bottom edge             -> + N, drain = 0
  One fold = 2R + C + N - 2 cycles (SCALE-Sim 3.0.0 counts the same per fold, reporting the
  sum minus one).
Pipelined: the next fold's A block preloads into a shadow register per PE while the current
fold streams; folds start every max(N, R) cycles.
"""
from __future__ import annotations

from imsim.array.mapping import ComputeTiming, Mapping, build_mapping, fold_timing

STATIONARY = "A"


def fill_cycles(rows: int, cols: int) -> int:
    """Stationary-operand preload (rows) plus skew until the last PE's first MAC."""
    return 2 * rows + cols - 2


def drain_cycles(rows: int, cols: int, timing: str) -> int:
    """Results leave the bottom edge as they are produced: no extra drain."""
    return 0


def map_gemm(M: int, K: int, N: int, rows: int, cols: int) -> Mapping:
    """Fold K over the rows and M over the columns; N streams."""
    return build_mapping(M, K, N, rows, cols, "is")


def compute_timing(mapping: Mapping, timing: str) -> ComputeTiming:
    """Compute cycles of an is mapping in the given timing mode."""
    R, C = mapping.rows, mapping.cols
    return fold_timing(mapping, timing, fill_cycles(R, C), drain_cycles(R, C, "pipelined"),
                       drain_cycles(R, C, "scalesim"))
