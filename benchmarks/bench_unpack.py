"""Unpack throughput on a 4096 x 4096 integer matrix with 0.1 % and 1 % heavy hitters at b = 4
and b = 8, as a ratio against one `np.abs(A).max()` pass over the same matrix (same process);
then `auto` (costs all nine strategy pairs from plans, builds the winner) against each single
strategy on a 512 x 768 x 768 GEMM quantized with the paper's quantizer (beta 0.99).

    python benchmarks/bench_unpack.py [--size 4096] [--repeat 3]

Ratio = unpack time / abs-max time (lower is better; 1.0 would be one read-only pass);
auto ratio = auto time / single-strategy time (issue 18 target: at most 1.5).
"""
from __future__ import annotations

import argparse

import numpy as np

from timing import best_of

from imsim.quantize import quantize_rtn
from imsim.unpack import qmax, unpack_gemm, unpack_operand


def matrix(n: int, bits: int, heavy: float, seed: int = 0) -> np.ndarray:
    """Body uniform inside the b-bit range; a `heavy` fraction of entries 2..64 x the range top."""
    rng = np.random.default_rng(seed)
    top = qmax(bits)
    X = rng.integers(-top, top + 1, (n, n), dtype=np.int64)
    mask = rng.random((n, n)) < heavy
    X[mask] = rng.integers(top + 1, 64 * top, int(mask.sum())) * rng.choice([-1, 1], int(mask.sum()))
    return X


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"{'bits':>4} {'heavy':>6} {'strategy':>8} {'out shape':>14} {'unpack s':>9} {'absmax s':>9} {'ratio':>7} {'Melem/s':>8}")
    for bits in (4, 8):
        for heavy in (0.001, 0.01):
            X = matrix(args.size, bits, heavy)
            base = best_of(lambda: np.abs(X).max(), args.repeat)
            for strategy in ("row", "col", "both"):
                out = {}
                t = best_of(lambda: out.setdefault("op", unpack_operand(X, bits, strategy)), 1 if strategy == "both" else args.repeat)
                shape = "x".join(map(str, out["op"].X.shape))
                print(f"{bits:>4} {heavy:>6.3f} {strategy:>8} {shape:>14} {t:>9.3f} {base:>9.4f} {t / base:>7.1f} {X.size / t / 1e6:>8.1f}")
    auto_vs_single(args.repeat)


def auto_vs_single(repeat: int) -> None:
    """auto / single-strategy time for GEMMs of t(3)-distributed floats at b = 2, 4, 8."""
    rng = np.random.default_rng(1)
    A = rng.standard_t(3, size=(512, 768)).astype(np.float32)
    B = rng.standard_t(3, size=(768, 768)).astype(np.float32)
    print(f"\n{'bits':>4} {'digits':>8} {'strategy':>14} {'ratio':>7} {'seconds':>8} {'auto/this':>9}")
    for bits in (2, 4, 8):
        qa = quantize_rtn(A, bits, 0.99, name="A").q
        qb = quantize_rtn(B, bits, 0.99, name="B").q
        for digits in ("signmag", "floor"):
            out = {}
            t_auto = best_of(lambda: out.setdefault("auto", unpack_gemm(qa, qb, bits, bits, "auto", digits)), repeat)
            print(f"{bits:>4} {digits:>8} {out['auto'].strategy:>14} {out['auto'].unpack_ratio:>7.3f} {t_auto:>8.3f} {1.0:>9.2f}")
            for strategy in ("row", "col", "both"):
                t = best_of(lambda: out.__setitem__(strategy, unpack_gemm(qa, qb, bits, bits, strategy, digits)), repeat)
                print(f"{bits:>4} {digits:>8} {strategy:>14} {out[strategy].unpack_ratio:>7.3f} {t:>8.3f} {t_auto / t:>9.2f}")


if __name__ == "__main__":
    main()
