"""Output-stationary (os) dataflow: C[m, n] accumulates in PE (m mod R, n mod C).

Rows <- M, columns <- N, K streams through: A rows enter from the left edge, B columns from the
top edge, each skewed by one cycle per row/column. Cycle 0 = A[0,0] and B[0,0] enter PE(0,0).

Events of one full fold (rows R, cols C, reduction T = K), cycles counted from 0:
  * PE(i, j) does its k-th MAC in cycle k + i + j;
  * the last PE, PE(R-1, C-1), does its first MAC in cycle R + C - 2    -> fill = R + C - 2
    and its last MAC in cycle K + R + C - 3                              -> + K
  * results leave through the bottom edge of each column on a drain shift chain, one per
    cycle; column j's last result leaves R cycles after its last MAC, the last one in cycle
    K + 2R + C - 3                                                       -> drain = R
  One fold = 2R + C + K - 2 cycles, first operand in to last result out (inclusive).
SCALE-Sim 3.0.0 (measured, see docs/model-array.md) counts K + R + C - 2 per fold, i.e. no
drain, and reports the sum minus one.
Pipelined: a PE's accumulator is free after K cycles and a column's drain chain after R cycles,
so folds start every max(K, R) cycles (needs a shadow output register per PE).
"""
from __future__ import annotations

from imsim.array.mapping import ComputeTiming, Mapping, build_mapping, fold_timing

STATIONARY = "C"


def fill_cycles(rows: int, cols: int) -> int:
    """Cycles from the first operand entering PE(0,0) to the last PE's first MAC."""
    return rows + cols - 2


def drain_cycles(rows: int, cols: int, timing: str) -> int:
    """Cycles from the last MAC to the last result leaving the array (0 in SCALE-Sim 3.0.0)."""
    return rows if timing == "pipelined" else 0


def map_gemm(M: int, K: int, N: int, rows: int, cols: int) -> Mapping:
    """Fold M over the rows and N over the columns; K streams."""
    return build_mapping(M, K, N, rows, cols, "os")


def compute_timing(mapping: Mapping, timing: str) -> ComputeTiming:
    """Compute cycles of an os mapping in the given timing mode."""
    R, C = mapping.rows, mapping.cols
    return fold_timing(mapping, timing, fill_cycles(R, C), drain_cycles(R, C, "pipelined"),
                       drain_cycles(R, C, "scalesim"))
