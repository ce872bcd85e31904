"""Cycle count of the reference output-stationary array (imsim/rtl/verilog/systolic_os.v).

Events counted for one tile (ROWS x COLS PEs, reduction length K), cycle 0 being the cycle
in which the first operands (A[:, 0] and B[0, :]) are fed (`in_valid` first high):
  * start: first operand in  (cycle 0);
  * PE (i, j) does its k-th multiply-accumulate in cycle i + j + k; the last MAC, PE
    (ROWS-1, COLS-1) with k = K-1, is in cycle ROWS + COLS + K - 3 (fill ROWS + COLS - 2);
  * the accumulators then drain down the columns, one row per cycle, bottom row first;
  * end: last result out, the cycle in which the top row's results are valid at the bottom
    edge (`out_valid` high for the last time): cycle 2*ROWS + COLS + K - 3.
Cycles = end - start + 1 = fill + K + drain = (ROWS + COLS - 2) + K + ROWS.

This is imsim's model of one output-stationary fold with its drain counted: the array model's
`pipelined` timing for a single fold (`imsim.array.compute_timing(ROWS, K, COLS, ROWS, COLS,
"os", "pipelined")`). The reference design runs tiles one after the other without overlap,
so a tile loop takes the sum of its tiles' counts.
"""
from __future__ import annotations

from imsim.array import compute_timing

TIMING = "pipelined"
START_EVENT = "first operand in: cycle in which A[:, k_start] and B[k_start, :] are fed (in_valid first high)"
END_EVENT = "last result out: cycle in which the last result row is valid at the bottom edge (out_valid last high)"


def tile_cycles(rows: int, cols: int, k: int) -> int:
    """Cycles (first operand in .. last result out, inclusive) of one rows x cols tile over K = k."""
    return compute_timing(rows, k, cols, rows, cols, "os", TIMING).cycles


def tile_loop_cycles(rows: int, cols: int, m: int, n: int, k_lens: list[int]) -> int:
    """Cycles of the reference tile loop: every K pass over ceil(m/rows) x ceil(n/cols) tiles."""
    tiles = -(-m // rows) * -(-n // cols)
    return sum(tiles * tile_cycles(rows, cols, k) for k in k_lens)
