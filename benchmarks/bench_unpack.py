"""Unpack throughput on a 4096 x 4096 integer matrix with 0.1 % and 1 % heavy hitters at b = 4
and b = 8, as a ratio against one `np.abs(A).max()` pass over the same matrix (same process).

    python benchmarks/bench_unpack.py [--size 4096] [--repeat 3]

Ratio = unpack time / abs-max time (lower is better; 1.0 would be one read-only pass).
"""
from __future__ import annotations

import argparse

import numpy as np

from timing import best_of

from imsim.unpack import qmax, unpack_operand


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


if __name__ == "__main__":
    main()
