"""Cycle counts of the reference design (imsim/rtl/verilog/), taken from imsim's models.

The array runs the low-bit GEMM as a list of *jobs*, each a whole GEMM A[m0:m1, k0:k1] @
B[k0:k1, n0:n1] with all its folds: one job per K scale pass, and for ws/is one per temporal
band of the memory model (imsim.memory.band_len: the C partial sums of a column fold must fit
one C buffer slot). Jobs run one after the other, so the array's count is the sum of the jobs'
counts, which is how imsim.memory adds up `compute_cycles` (one ComputeTiming per pass and
band).

Events of a job, cycle 0 being the cycle its first operand enters the array (os: A[:, k0] and
B[k0, :]; ws/is: the first row of the first stationary block):
  * last: the cycle its last result is at the array's output (os `pipelined`: the top row's
    result at the bottom of the last column's drain chain; os `scalesim`: the last PE's own
    output port in the cycle of its last MAC; ws/is: the bottom PE's sum in the cycle of its
    last MAC, written to the accumulator buffer at the end of that cycle).
  * count: `pipelined` last - first + 1 (both ends counted); `scalesim` last - first, SCALE-Sim
    3.0.0's convention (its total is the 0-based index of the cycle of the last output write,
    see docs/model-array.md).
Either equals imsim.array.compute_timing(job shape, rows, cols, dataflow, timing).cycles.

The recombination unit (verilog/recomb.v) does `recomb_lanes` shift-and-adds per cycle, one
per non-base array output (imsim.recombine.total_ops), first op in to last op done:
ceil(ops / lanes) = MemoryResult.recomb_busy_cycles.
"""
from __future__ import annotations

from dataclasses import dataclass

from imsim.array import compute_timing
from imsim.array.mapping import TIMINGS, Tile, ceil_div
from imsim.recombine import total_ops

START_EVENT = "first operand in: the cycle a job's first operand enters the array (cycle 0)"
END_EVENT = "last result out: the cycle a job's last result is at the array's output"
COUNT_RULE = {"pipelined": "last - first + 1 (both ends counted)",
              "scalesim": "last - first (SCALE-Sim 3.0.0: the 0-based index of the last output cycle)"}
TEMPORAL = {"os": "K", "ws": "M", "is": "N"}


@dataclass(frozen=True)
class Job:
    """One whole GEMM run on the array: the slice `tile` (A[m0:m1, k0:k1] @ B[k0:k1, n0:n1]),
    added into pass `pass_` of the PE-level results."""

    pass_: int
    tile: Tile

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.tile.shape

    def words(self) -> list[int]:
        """The 7 words of jobs.hex: pass, m0, m1, k0, k1, n0, n1."""
        t = self.tile
        return [self.pass_, t.m0, t.m1, t.k0, t.k1, t.n0, t.n1]


def make_jobs(low_shape: tuple[int, int, int], k_passes: list[tuple[int, int]], dataflow: str,
              band: list[int] | None = None) -> list[Job]:
    """Jobs of a low-bit GEMM (M', K', N') with K passes [(k_start, k_len)]: per pass, the
    temporal axis (ws: M', is: N') cut into bands of band[p] elements (os: no bands)."""
    m, _, n = low_shape
    jobs = []
    for p, (k0, kl) in enumerate(k_passes):
        T = {"os": kl, "ws": m, "is": n}[dataflow]
        step = T if dataflow == "os" or band is None else max(1, band[p])
        for t0 in range(0, T, step):
            t1 = min(T, t0 + step)
            ms = (t0, t1) if dataflow == "ws" else (0, m)
            ns = (t0, t1) if dataflow == "is" else (0, n)
            jobs.append(Job(p, Tile(*ms, k0, k0 + kl, *ns)))
    return jobs


def job_cycles(job: Job, rows: int, cols: int, dataflow: str, timing: str) -> int:
    """imsim's compute cycles of one job (the count the RTL must show)."""
    M, K, N = job.shape
    return compute_timing(M, K, N, rows, cols, dataflow, timing).cycles


def measured_cycles(first: int, last: int, timing: str) -> int:
    """The RTL's count of a job from its first-operand and last-result cycles (COUNT_RULE)."""
    if timing not in TIMINGS:
        raise ValueError(f"timing {timing!r}")
    return last - first + (1 if timing == "pipelined" else 0)


def recomb_cycles(passes: int, low_rows: int, low_cols: int, M: int, N: int, lanes: int) -> int:
    """Busy cycles of the recombination unit: ceil(non-base outputs / lanes)."""
    return ceil_div(total_ops(passes, low_rows, low_cols, M, N), lanes) if lanes else 0
