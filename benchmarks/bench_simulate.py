"""Benchmark of imsim.simulate: cycle model (array + memory + recombination) and exact execution.

For (128x768)x(768x768) and (512x768)x(768x3072) on 32x32 and 128x128 arrays in every dataflow,
prints the wall time of the cycle model alone, of the full simulation with exact execution, and
their ratio to one numpy float64 matmul of the same shape measured in the same process.
Targets: cycle model < 50 ms per GEMM; exact execution within 3x of the float64 matmul.

    python benchmarks/bench_simulate.py [--heavy F] [--repeat N]

--heavy 0 (default) runs in-range int8 operands (unpack ratio 1, as the targets assume);
--heavy 0.005 adds heavy hitters (the low-bit GEMM is then larger than the float matmul).
BLAS runs single-threaded (unless --threads): on the shared 2-core machines a multi-threaded
matmul waits for its slowest thread and the timings become scheduler noise. Each figure is the
minimum over --repeat interleaved runs (matmul, cycle model, full run), and the median ratio
is printed too.
"""
from __future__ import annotations

import argparse
import os
import sys

if "--threads" not in sys.argv:  # before numpy loads BLAS
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

import numpy as np

from timing import best_of

from imsim.cli.run import random_operands
from imsim.hwconfig import HwConfig
from imsim.simulate import simulate_gemm
from imsim.unpack import unpack_gemm

SHAPES = [(128, 768, 768), (512, 768, 3072)]
ARRAYS = [32, 128]
DATAFLOWS = ["os", "ws", "is"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heavy", type=float, default=0.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", action="store_true", help="leave BLAS threading at its default")
    args = ap.parse_args()
    print(f"{'M,K,N':>14} {'array':>7} {'df':>3} {'ratio':>6} {'cycle_ms':>9} {'exact_ms':>9} "
          f"{'f64mm_ms':>9} {'exec/f64':>9} {'median':>7} {'total/f64':>9} {'exact':>5}")
    worst_cycle, worst_exec = 0.0, 0.0
    for M, K, N in SHAPES:
        A, B = random_operands(M, K, N, 8, 8, args.heavy, seed=0)
        ug = unpack_gemm(A, B, 8, 8, "auto" if args.heavy else "none")
        Af, Bf = A.astype(np.float64), B.astype(np.float64)
        for size in ARRAYS:
            for df in DATAFLOWS:
                hw = HwConfig(rows=size, cols=size, dataflow=df)
                res = []
                mm, cyc, full = [], [], []
                for _ in range(args.repeat):  # interleaved, so all three see the same machine load
                    mm.append(best_of(lambda: Af @ Bf, 1))
                    cyc.append(best_of(lambda: simulate_gemm(hw, ug, execute=False, energy=False), 1))
                    full.append(best_of(lambda: res.append(
                        simulate_gemm(hw, ug, execute=True, energy=False, operands=(A, B))), 1))
                t_mm, t_cycle, t_full = min(mm), min(cyc), min(full)
                t_exec = max(0.0, t_full - t_cycle)
                med = float(np.median([(f - c) / m for f, c, m in zip(full, cyc, mm)]))
                worst_cycle = max(worst_cycle, t_cycle)
                worst_exec = max(worst_exec, t_exec / t_mm)
                print(f"{M},{K},{N:>5} {size:>3}x{size:<3} {df:>3} {ug.unpack_ratio:6.3f} {t_cycle * 1e3:9.1f} "
                      f"{t_full * 1e3:9.1f} {t_mm * 1e3:9.1f} {t_exec / t_mm:9.2f} {med:7.2f} {t_full / t_mm:9.2f} "
                      f"{str(res[-1].exact):>5}")
    print(f"worst cycle model: {worst_cycle * 1e3:.1f} ms (target < 50 ms); "
          f"worst exact execution / float64 matmul: {worst_exec:.2f} (target <= 3)")


if __name__ == "__main__":
    main()
