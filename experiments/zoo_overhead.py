"""Unpack overhead on the trace zoo (issue 15 item 7): per model, per GEMM phase and kind, the
unpack ratio at one quantization for b-bit MACs, and the share of the extra MACs each kind carries.

    python experiments/zoo_overhead.py NAME=TRACE [NAME=TRACE ...] [--beta 0.99] [--levels 15,255]
        [--bits 2,4,8] [--strategy auto] [--out FILE.md]

Each GEMM is quantized once per d (paper quantizer, per tensor, A and B at the same d) and
unpacked with `imsim.unpack.unpack_gemm` for every b. The phase column is the record's `stage`
metadata where it has one (LLM traces: prefill, decode, train), else its phase (fwd, bwd) (the code path of `imsim unpack` and sweeps).
Ratios are MAC-weighted: sum of low-bit MACs / sum of useful MACs. `extra share` = this group's
(MACs run - useful MACs) / the model's, at the narrowest b. Deterministic.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("traces", nargs="+", help="NAME=PATH (a trace folder or .npz, or 'bundled')")
    ap.add_argument("--beta", type=float, default=0.99)
    ap.add_argument("--levels", default="15,255")
    ap.add_argument("--bits", default="2,4,8")
    ap.add_argument("--strategy", default="auto")
    ap.add_argument("--phases", default=None, help="comma-separated phases to keep (default: all)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    from report import emit, md_table

    import imsim
    from imsim.simulate import quantize_operands
    from imsim.trace import bundled_trace_path
    from imsim.trace.format import open_trace
    from imsim.unpack import unpack_gemm

    levels = [int(x) for x in args.levels.split(",")]
    bits = [int(x) for x in args.bits.split(",")]
    out = [f"### Unpack overhead by model, phase and GEMM kind (strategy {args.strategy}, paper quantizer, "
           f"beta {args.beta})", "",
           f"Inputs: `python experiments/zoo_overhead.py {' '.join(args.traces)} --beta {args.beta} --levels "
           f"{args.levels} --bits {args.bits} --strategy {args.strategy}"
           f"{' --phases ' + args.phases if args.phases else ''}`, imsim {imsim.__version__}; "
           "deterministic (no seed). `ratio`: sum of MACs run / sum of useful MACs (MAC-weighted); `extra share`: "
           "the group's MACs run minus useful MACs over the model's, at that b and d.", ""]
    for spec in args.traces:
        name, _, path = spec.partition("=")
        path = bundled_trace_path() if path == "bundled" else path
        useful: dict[tuple[str, str], int] = defaultdict(int)
        count: dict[tuple[str, str], int] = defaultdict(int)
        run: dict[tuple[str, str, int, int], int] = defaultdict(int)
        for rec in open_trace(path):
            phase = str((rec.meta or {}).get("stage", rec.phase))  # LLM traces: prefill / decode / train
            if args.phases and phase not in args.phases.split(","):
                continue
            A, B = rec.A, rec.B
            g = (phase, str(rec.kind))
            useful[g] += A.shape[0] * A.shape[1] * B.shape[1]
            count[g] += 1
            for d in levels:
                qa, qb = quantize_operands(A, B, 8, 8, quantize_beta=args.beta, levels=d, w_levels=d,
                                           quantizer="paper")
                for b in bits:
                    run[(*g, d, b)] += unpack_gemm(qa, qb, b, b, strategy=args.strategy).macs
        if not useful:
            raise SystemExit(f"zoo_overhead.py: {name}: no GEMM of phase {args.phases} in {path}")
        groups = sorted(useful)
        tot_useful = sum(useful.values())
        header = ["phase", "kind", "GEMMs", "MAC share"] + [f"ratio d={d} b={b}" for d in levels for b in bits] \
            + [f"extra share d={d} b={b}" for d in levels for b in (bits[0],)]
        rows = []
        for g in groups:
            row = [g[0], g[1], count[g], useful[g] / tot_useful]
            row += [run[(*g, d, b)] / useful[g] for d in levels for b in bits]
            for d in levels:
                extra = sum(run[(*h, d, bits[0])] - useful[h] for h in groups)
                row.append((run[(*g, d, bits[0])] - useful[g]) / extra if extra else float("nan"))
            rows.append(row)
        rows.append(["all", "all", sum(count.values()), 1.0]
                    + [sum(run[(*g, d, b)] for g in groups) / tot_useful for d in levels for b in bits]
                    + [1.0 for _ in levels])
        out += [f"#### {name} ({sum(count.values())} GEMMs, {tot_useful:,} useful MACs)", "", md_table(header, rows), ""]
    text = "\n".join(out)
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
