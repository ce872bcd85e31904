"""The IM-Unpack-style table (issue 12 item 7 a): unpack ratio vs (beta, d) for MAC widths b,
with the paper's floor digits next to imsim's sign-magnitude digits.

    python experiments/unpack_table.py [--trace bundled] [--phases fwd] [--strategy both] [--out FILE.md]

Each GEMM of the trace is quantized once per (beta, d) with the paper's quantizer (scale
0.5 d / alpha, alpha = the k-th largest |x|, per tensor, A and B at the same d) and unpacked with
`imsim.unpack.unpack_gemm` for every (b, digits): the same code path as `imsim unpack` and sweeps,
here sharing the quantization across the 6 (b, digits) combinations to keep the run to minutes.
Ratio = sum of low-bit MACs / sum of useful MACs over the selected GEMMs (MAC-weighted).
Deterministic (no seed).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

BITS = (2, 4, 8)
BETAS = (0.95, 0.99, 1.0)
LEVELS = (3, 5, 7, 15, 31, 127, 255)
DIGITS = ("floor", "signmag")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", default="bundled")
    ap.add_argument("--phases", default="fwd", help="comma-separated phases to keep (default fwd)")
    ap.add_argument("--strategy", default="both")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    from report import emit, md_table

    import imsim
    from imsim.simulate import quantize_operands
    from imsim.trace import bundled_trace_path
    from imsim.trace.format import open_trace
    from imsim.unpack import unpack_gemm

    path = bundled_trace_path() if args.trace == "bundled" else args.trace
    phases = set(args.phases.split(","))
    records = [r for r in open_trace(path) if r.phase in phases]
    macs = {(b, beta, d, dg): 0 for b in BITS for beta in BETAS for d in LEVELS for dg in DIGITS}
    useful = 0
    for i, rec in enumerate(records):
        print(f"unpack_table: GEMM {i + 1}/{len(records)} {rec.name}", file=sys.stderr, flush=True)
        A, B = rec.A, rec.B
        useful += A.shape[0] * A.shape[1] * B.shape[1]
        for beta in BETAS:
            for d in LEVELS:
                qa, qb = quantize_operands(A, B, 8, 8, quantize_beta=beta, levels=d, w_levels=d, quantizer="paper")
                for b in BITS:
                    for dg in DIGITS:
                        macs[(b, beta, d, dg)] += unpack_gemm(qa, qb, b, b, strategy=args.strategy, digits=dg).macs
    rows = []
    for b in BITS:
        for beta in BETAS:
            rows.append([b, beta] + [" / ".join(f"{macs[(b, beta, d, dg)] / useful:.2f}" for dg in DIGITS)
                                     for d in LEVELS])
    text = "\n".join([
        f"### Unpack ratio vs beta and d (strategy {args.strategy}), `paper floor digits / imsim signmag digits`",
        "", f"Inputs: `python experiments/unpack_table.py --trace {args.trace} --phases {args.phases} --strategy "
        f"{args.strategy}`: {len(records)} GEMMs ({useful:,} useful MACs), paper quantizer per tensor, A and B at "
        f"the same d, imsim {imsim.__version__}; deterministic (no seed).", "",
        "Ratio = sum of low-bit MACs / sum of useful MACs over these GEMMs.", "",
        md_table(["b", "beta"] + [f"d={d}" for d in LEVELS], rows), ""])
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
