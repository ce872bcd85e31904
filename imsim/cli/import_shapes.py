"""`imsim import-shapes FILE.csv`: a GEMM shape list (or SCALE-Sim topology) -> a shape-only trace.

  imsim import-shapes FILE.csv [--out TRACE.npz] [--heavy 0.01] [--seed 0] [--model NAME] [--json]

Columns are read by their header names (M, K, N in any order, optional name, kind, count; or
SCALE-Sim's topology columns), never by position; ambiguous headers are refused (exit 2).
The operand values written are synthetic (imsim.trace.synthetic): the trace is marked
`provenance: shape-only`, and `imsim run` says so in its header.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from imsim.cli.common import print_json
from imsim.cli.import_scalesim import add_value_args
from imsim.cli.vocabulary import add_json_arg, add_out_arg


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("import-shapes", help="GEMM shape list (CSV, or SCALE-Sim topology) -> a shape-only trace",
                              description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("file", metavar="FILE.csv", help="CSV whose first line names the columns: M, K, N [, name, kind, "
                                                    "count], or SCALE-Sim's GEMM / convolution topology")
    add_out_arg(p, metavar="TRACE", default=None,
                help="trace to write (.npz file, or a folder; default: FILE's stem + .npz in the current folder)")
    add_value_args(p)
    p.add_argument("--model", default=None, help="model name in the records (default: FILE's stem)")
    add_json_arg(p, "one JSON object describing the trace written")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from imsim.trace.format import save_trace
    from imsim.trace.shapes import read_shapes, shapes_trace

    layers = read_shapes(args.file)
    stem = Path(args.file).stem
    out = Path(args.out) if args.out else Path(f"{stem}.npz")
    trace = shapes_trace(layers, heavy=args.heavy, seed=args.seed, model=args.model or stem, source=str(args.file))
    path = save_trace(out, trace)
    summary = {"trace": str(path), "gemms": len(trace), "macs": trace.macs, "provenance": "shape-only",
               "heavy": args.heavy, "seed": args.seed,
               "layers": [{"name": lay.name, "kind": lay.kind, "M": lay.M, "K": lay.K, "N": lay.N} for lay in layers]}
    if args.json:
        print_json(summary)
    else:
        print(f"trace: {path} ({len(trace)} GEMMs, {trace.macs} MACs; shape-only: synthetic operand values, "
              f"--heavy {args.heavy} --seed {args.seed})")
    return 0
