"""The baseline of the trace benchmarks: load every GEMM's operands of a trace and run one
float64 matmul per GEMM, nothing else (no quantization, unpacking, timing or checking).

    python benchmarks/plain_matmul.py TRACE      (TRACE: .npz file or folder, or 'bundled')

Operands are read with the same lazy reader `imsim run` uses (one .npz member per operand).
"""
from __future__ import annotations

import sys

import numpy as np


def main(path: str) -> int:
    from imsim.trace import bundled_trace_path, open_trace

    checksum = 0.0
    for rec in open_trace(bundled_trace_path() if path == "bundled" else path):
        checksum += float((rec.A.astype(np.float64) @ rec.B.astype(np.float64))[0, 0])
    print(checksum)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
