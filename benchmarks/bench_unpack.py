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


def materialise_every_pair(qa: np.ndarray, qb: np.ndarray, bits: int, digits: str) -> int:
    """The pre-plan `auto` as a baseline: build all nine (A, B) strategy pairs, keep the fewest MACs."""
    best = None
    for sa in ("row", "col", "both"):
        opA = unpack_operand(qa, bits, sa, digits)
        B1T = qb[opA.k_src].T
        for sb in ("row", "col", "both"):
            opB = unpack_operand(B1T, bits, sb, digits)
            macs = opA.X.shape[0] * opB.X.shape[1] * opB.X.shape[0]
            best = macs if best is None else min(best, macs)
    return best


def auto_vs_single(repeat: int, trace: bool = True) -> None:
    """auto / single-strategy time, and auto / materialise-every-pair time, at b = 2, 4, 8 on
    GEMMs of t(3)-distributed floats and (trace=True) on every GEMM of the bundled trace."""
    rng = np.random.default_rng(1)
    cases = [("t3 512x768x768", [(rng.standard_t(3, size=(512, 768)).astype(np.float32),
                                  rng.standard_t(3, size=(768, 768)).astype(np.float32))])]
    if trace:
        from imsim.trace import bundled_trace_path, open_trace

        cases.append(("bundled trace", [(r.A, r.B) for r in open_trace(bundled_trace_path())]))
    print(f"\n{'operands':>15} {'bits':>4} {'digits':>8} {'strategy':>8} {'ratio':>7} {'seconds':>8} {'auto/this':>9}")
    for label, gemms in cases:
        for bits in (2, 4, 8):
            ops = [(quantize_rtn(A, bits, 0.99, name="A").q, quantize_rtn(B, bits, 0.99, name="B").q)
                   for A, B in gemms]
            useful = sum(a.shape[0] * a.shape[1] * b.shape[1] for a, b in ops)
            for digits in ("signmag", "floor"):
                times, macs = {}, {}
                for strategy in ("auto", "row", "col", "both"):
                    out = {}
                    times[strategy] = best_of(lambda: out.__setitem__("m", sum(
                        unpack_gemm(a, b, bits, bits, strategy, digits).macs for a, b in ops)), repeat)
                    macs[strategy] = out["m"]
                out = {}
                times["every pair"] = best_of(lambda: out.__setitem__("m", sum(
                    materialise_every_pair(a, b, bits, digits) for a, b in ops)), repeat)
                macs["every pair"] = out["m"]
                assert macs["every pair"] >= macs["auto"]  # cheap auto is never worse
                for strategy, t in times.items():
                    print(f"{label:>15} {bits:>4} {digits:>8} {strategy:>10} {macs[strategy] / useful:>7.3f} "
                          f"{t:>8.3f} {times['auto'] / t:>9.2f}")


if __name__ == "__main__":
    main()
