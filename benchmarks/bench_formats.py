"""Benchmark + summary of eXmY operand conversion: time, integer widths, heavy hitters, footprint.

Run: python benchmarks/bench_formats.py [--size 512] [--granularity tensor]
Prints one JSON line per format. `hh_frac_at_sig_bits` is the fraction of A entries outside the
b-bit range for b = fmt.significand_bits (IM-Unpack's heavy hitters); `hh_frac_at_8` for b = 8.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from imsim.formats import GEMM_GRANULARITIES, quantize_operands_exmy
from imsim.packing import pack, unpack

FORMATS = ["e0m3", "e1m2", "e2m1", "e3m0", "e2m3", "e3m2", "e4m3", "fp8_e4m3", "e5m2", "fp8_e5m2", "e0m7"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=512, help="M = K = N")
    ap.add_argument("--granularity", default="tensor", choices=GEMM_GRANULARITIES)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    n = args.size
    A = rng.standard_normal((n, n))
    A[:, rng.integers(0, n, 4)] *= 20.0  # a few outlier channels, as in activations
    B = rng.standard_normal((n, n)) * 0.05
    for name in FORMATS:
        t0 = time.perf_counter()
        A_int, B_int, info = quantize_operands_exmy(A, B, name, granularity=args.granularity)
        t1 = time.perf_counter()
        buf = pack(info.a.codes, info.a.fmt.width)
        t2 = time.perf_counter()
        assert np.array_equal(unpack(buf, info.a.fmt.width, A.size).reshape(A.shape), info.a.codes)
        b = info.a.fmt.significand_bits
        row = info.to_dict() | {
            "quantize_s": round(t1 - t0, 4), "pack_s": round(t2 - t1, 4),
            "hh_frac_at_sig_bits": float((np.abs(A_int) > 2 ** (b - 1) - 1).mean()),
            "hh_frac_at_8": float((np.abs(A_int) > 127).mean()),
        }
        print(json.dumps(row))


if __name__ == "__main__":
    main()
