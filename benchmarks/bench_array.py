"""Speed of the array cycle model (imsim.array.compute_timing) on the issue's GEMM shapes.

For (128x768)·(768x768) and (512x768)·(768x3072) on 32x32 and 128x128 arrays, each dataflow and
timing mode, prints the wall time of one cycle-model evaluation (uncached: mapping + formulas;
and cached, as repeated calls in a sweep see it) and its ratio to one numpy float64 matmul of
the same shape, timed in the same process. Target (issue 3): cycle model < 50 ms per GEMM.

    python benchmarks/bench_array.py
"""
from __future__ import annotations


import numpy as np

from timing import best_of

from imsim.array import DATAFLOWS, TIMINGS, compute_timing, dataflow_module

SHAPES = [(128, 768, 768), (512, 768, 3072)]
ARRAYS = [(32, 32), (128, 128)]


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'GEMM (M,K,N)':>18} {'array':>8} {'df':>3} {'timing':>9} {'cycles':>10} "
          f"{'model_us':>9} {'cached_us':>9} {'matmul_ms':>9} {'model/matmul':>12}")
    worst = 0.0
    for M, K, N in SHAPES:
        A, B = rng.standard_normal((M, K)), rng.standard_normal((K, N))
        t_mm = best_of(lambda: A @ B, repeat=3, number=3)
        for R, C in ARRAYS:
            for df in DATAFLOWS:
                mod = dataflow_module(df)
                for timing in TIMINGS:
                    t_model = best_of(lambda: mod.compute_timing(mod.map_gemm(M, K, N, R, C), timing),
                                      repeat=5, number=200)
                    t_cached = best_of(lambda: compute_timing(M, K, N, R, C, df, timing),
                                       repeat=5, number=2000)
                    cycles = compute_timing(M, K, N, R, C, df, timing).cycles
                    worst = max(worst, t_model)
                    print(f"{str((M, K, N)):>18} {f'{R}x{C}':>8} {df:>3} {timing:>9} {cycles:>10} "
                          f"{t_model * 1e6:9.2f} {t_cached * 1e6:9.2f} {t_mm * 1e3:9.2f} "
                          f"{t_model / t_mm:12.2e}")
    print(f"slowest uncached cycle model: {worst * 1e6:.1f} us per GEMM "
          f"(target < 50 ms: {'met' if worst < 0.05 else 'MISSED'})")


if __name__ == "__main__":
    main()
