"""`imsim rtl`: golden vectors for RTL testbenches, the reference testbench, result compare.

    imsim rtl export --hw HW.yaml (--gemm M,K,N | --trace PATH [--index I]) [--bits B]
                     [--strategy S] [--seed S] [--set KEY=VALUE ...] [--beta B] [--levels D]
                     [--quantizer Q] [--digits D] --out DIR
    imsim rtl sim DIR                      run the reference array's testbench (Icarus)
    imsim rtl compare DIR RESULTS.hex [--cycles N] [--against psum|c]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from imsim.cli.common import LazyChoices, add_quant_args, bits_arg, gemm_arg, int_arg, print_json, quant_kwargs
from imsim.errors import bad_value


def _trace_operands(path: str, index: int, a_bits: int, w_bits: int, beta: float | None = None,
                    **quant: Any) -> tuple[np.ndarray, np.ndarray, dict]:
    """Integer operands of one trace record (float records are RTN-quantized per tensor with
    `beta` (default 1.0) and `quant`: levels, w_levels, quantizer)."""
    from imsim.quality import quantize_gemm
    from imsim.trace.registry import open_named

    trace = open_named(path)
    if not 0 <= index < len(trace):
        raise bad_value(path, "--index", index, f"a record index in 0..{len(trace) - 1}")
    rec = trace[index]
    A, B = rec.arrays()
    beta = 1.0 if beta is None else beta
    A, B, info = quantize_gemm(A, B, a_bits, w_bits, beta=beta, **quant)
    source = {"source": "trace", "trace": str(path), "index": index, "name": rec.name,
              "kind": rec.kind, "phase": rec.phase,
              "quantization": {k: info[k] for k in ("quantizer", "beta", "levels", "w_levels")},
              "rel_error": info["rel_error"]}
    return np.asarray(A, dtype=np.int64), np.asarray(B, dtype=np.int64), source


def _export(args: argparse.Namespace) -> int:
    from imsim.hwconfig import load_hw_config
    from imsim.rtl.export import write_golden
    from imsim.rtl.golden import build_golden, random_int_gemm

    overrides = list(args.set or [])
    if args.bits is not None:
        overrides += [f"a_bits={args.bits}", f"w_bits={args.bits}"]
    hw = load_hw_config(args.hw, overrides)
    if args.gemm is not None:
        M, K, N = args.gemm
        A, B = random_int_gemm(M, K, N, hw.a_bits, hw.w_bits, seed=args.seed)
        source: dict[str, Any] = {"source": "random", "seed": args.seed,
                                  "distribution": "uniform in the b-bit range, 5% heavy hitters"}
    else:
        A, B, source = _trace_operands(args.trace, args.index, hw.a_bits, hw.w_bits, args.beta,
                                       **quant_kwargs(args))
    golden = build_golden(A, B, hw, args.strategy, args.digits)
    manifest = write_golden(golden, args.out, hw.dataflow, source, hw.name)
    summary = {"out": str(args.out), "M": golden.shape[0], "K": golden.shape[1], "N": golden.shape[2],
               "M_low": manifest["unpack"]["M_low"], "K_low": manifest["unpack"]["K_low"],
               "N_low": manifest["unpack"]["N_low"], "strategy": golden.strategy,
               "passes": len(golden.passes), "tiles": manifest["tile_loop"]["tiles"],
               "cycles": manifest["cycles"]["expected_total"]}
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {args.out}: a.hex {summary['M_low']}x{summary['K_low']}, "
              f"b.hex {summary['K_low']}x{summary['N_low']}, psum.hex {summary['passes']}x"
              f"{summary['M_low']}x{summary['N_low']}, c.hex {summary['M']}x{summary['N']}, manifest.json")
        print(f"strategy {golden.strategy}, {summary['tiles']} tiles of {hw.rows}x{hw.cols}, "
              f"expected cycles {summary['cycles']}")
    return 0


def _sim(args: argparse.Namespace) -> int:
    from imsim.rtl.compare import load_manifest
    from imsim.rtl.icarus import compile_testbench, run_testbench

    export_dir = Path(args.dir)
    manifest = load_manifest(export_dir)
    with tempfile.TemporaryDirectory(prefix="imsim-rtl-") as tmp:
        vvp = compile_testbench(manifest["testbench"]["parameters"], Path(tmp) / "tb.vvp")
        run = run_testbench(vvp, export_dir)
    if args.json:
        print_json({"results": str(run.results), "cycles": run.total_cycles, "tiles": run.tiles,
                    "tile_cycles": list(run.tile_cycles)})
    else:
        print(f"wrote {run.results}: {run.tiles} tiles, {run.total_cycles} cycles")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from imsim.rtl.compare import compare_export, report_lines

    cmp = compare_export(args.dir, args.results, args.against, args.cycles, args.max_report)
    if args.json:
        print_json(cmp.to_dict())
    else:
        print("\n".join(report_lines(cmp, args.results)))
    if not cmp.exact:
        return 1
    if args.exact_cycles and cmp.cycle_diff not in (0, None):
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `imsim rtl` and its sub-commands."""
    rtl = subparsers.add_parser("rtl", help="golden vectors, reference testbench and compare for RTL",
                                description=__doc__.splitlines()[0])
    sub = rtl.add_subparsers(dest="rtl_command", metavar="SUBCOMMAND", parser_class=type(rtl))
    rtl.set_defaults(func=lambda args: (rtl.print_help(), 2)[1])

    ex = sub.add_parser("export", help="write golden vectors (hex, npy) and manifest.json")
    ex.add_argument("--hw", required=True, metavar="HW.yaml", help="hardware config")
    src = ex.add_mutually_exclusive_group(required=True)
    src.add_argument("--gemm", type=gemm_arg, metavar="M,K,N",
                     help="random integer GEMM of this shape (uniform b-bit entries, 5%% heavy hitters)")
    src.add_argument("--trace", metavar="TRACE",
                     help="trace name (`imsim trace list`) or .npz / folder; floats are RTN-quantized")
    ex.add_argument("--index", type=int_arg("--index"), default=0, help="trace record (default 0)")
    ex.add_argument("--bits", type=bits_arg("--bits"), help="operand width for both sides (a_bits = w_bits)")
    ex.add_argument("--strategy", choices=LazyChoices("imsim.unpack", "STRATEGIES"), default="auto",
                    metavar="STRATEGY", help="unpack strategy: %(choices)s (default auto)")
    ex.add_argument("--seed", type=int_arg("--seed"), default=0, help="seed of the random GEMM")
    add_quant_args(ex, beta_help="--trace: RTN threshold for float records, alpha = the k-th largest |x|, "
                                 "k = int(numel (1 - beta)) (default 1.0)")
    ex.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a hardware key")
    ex.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to write")
    ex.add_argument("--json", action="store_true", help="print one JSON object")
    ex.set_defaults(func=_export)

    sm = sub.add_parser("sim", help="run the reference array's testbench on DIR with Icarus Verilog")
    sm.add_argument("dir", metavar="DIR", help="folder written by `imsim rtl export`")
    sm.add_argument("--json", action="store_true", help="print one JSON object")
    sm.set_defaults(func=_sim)

    cp = sub.add_parser("compare", help="compare an RTL's results file with the golden values")
    cp.add_argument("dir", metavar="DIR", help="folder written by `imsim rtl export`")
    cp.add_argument("results", metavar="RESULTS.hex", help="$writememh output of the RTL")
    cp.add_argument("--cycles", type=int_arg("--cycles"), help="cycle count the RTL reported")
    cp.add_argument("--against", choices=("psum", "c"), default="psum",
                    help="golden values: psum (PE results, default) or c (after recombination)")
    cp.add_argument("--max-report", type=int_arg("--max-report"), default=10,
                    help="mismatches to list (default 10)")
    cp.add_argument("--exact-cycles", action="store_true",
                    help="exit 1 also when --cycles differs from imsim's count")
    cp.add_argument("--json", action="store_true", help="print one JSON object")
    cp.set_defaults(func=_compare)
