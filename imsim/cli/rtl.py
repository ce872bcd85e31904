"""`imsim rtl`: golden vectors for RTL testbenches, the reference design, result compare.

    imsim rtl export --hw HW (--gemm M,K,N | --trace NAME|PATH [--gemm-index I] [--beta B]
                     [--levels D] [--w-levels D] [--quantizer Q]) [--digits D] [--bits B]
                     [--strategy S] [--timing T] [--seed S] [--set KEY=VALUE ...] --out DIR
    imsim rtl sim DIR [--simulator icarus|verilator]   reference array + recombination unit
    imsim rtl compare DIR RESULTS.hex [--against psum|c] [--cycles N] [--recomb-cycles N]
                      [--exact-cycles]
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from imsim.array.mapping import TIMINGS
from imsim.cli.common import add_quant_args, gemm_arg, int_arg, print_json, quant_kwargs
from imsim.cli.vocabulary import (add_bits_args, add_heavy_arg, add_hw_arg, add_json_arg, add_out_arg, add_seed_arg,
                                  add_strategy_arg, bits_overrides)
from imsim.errors import UserError, about, bad_value

DEFAULT_HEAVY = 0.05  # heavy-hitter fraction of the random --gemm operands


def _trace_operands(args: argparse.Namespace, a_bits: int, w_bits: int
                    ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Integer operands of one trace record (float records RTN-quantized per tensor with
    --beta, --levels, --w-levels, --quantizer) and the manifest's description of them."""
    from imsim.quality import quantize_gemm
    from imsim.trace.registry import open_named

    trace = open_named(args.trace)
    path = str(trace.path)
    index = args.gemm_index
    if not 0 <= index < len(trace):
        raise bad_value(args.trace, "--gemm-index", index, f"a record index in 0..{len(trace) - 1}")
    rec = trace[index]
    with about(f"{path}: record {index} ({rec.name})"):
        A, B = rec.arrays()
        beta = 1.0 if args.beta is None else args.beta
        qa, qb, info = quantize_gemm(A, B, a_bits, w_bits, beta=beta, **quant_kwargs(args))
    quant = {k: info[k] for k in ("quantizer", "beta", "levels", "w_levels")}
    quant["granularity"] = "tensor"
    source = {"source": "trace", "trace": args.trace, "path": path, "gemm_index": index,
              "name": rec.name, "kind": rec.kind, "phase": rec.phase, "quantization": quant,
              "rel_error": info.get("rel_error")}
    return np.asarray(qa, dtype=np.int64), np.asarray(qb, dtype=np.int64), source


def _export(args: argparse.Namespace) -> int:
    from imsim.hwconfig import load_hw_config
    from imsim.rtl.export import write_golden
    from imsim.rtl.golden import build_golden, random_int_gemm

    overrides = list(args.set or [])
    overrides += bits_overrides(args)
    hw = load_hw_config(args.hw, overrides)
    if args.gemm is not None:
        for flag in ("beta", "levels", "w_levels"):
            if getattr(args, flag) is not None:
                raise UserError(f"command line: --{flag.replace('_', '-')} applies to --trace (float operands); "
                                f"--gemm draws integer operands")
        M, K, N = args.gemm
        from imsim.limits import check_gemm

        check_gemm(M, K, N, "--gemm")
        A, B = random_int_gemm(M, K, N, hw.a_bits, hw.w_bits, seed=args.seed, heavy_fraction=args.heavy)
        source: dict[str, Any] = {"source": "random", "seed": args.seed,
                                  "distribution": f"uniform in the b-bit range, {args.heavy:g} heavy hitters",
                                  "quantization": {"method": "none: integer operands"}}
    else:
        A, B, source = _trace_operands(args, hw.a_bits, hw.w_bits)
    golden = build_golden(A, B, hw, args.strategy, args.digits)
    source["unpacking"] = {"strategy": golden.strategy, "digits": args.digits,
                           "a_bits": hw.a_bits, "w_bits": hw.w_bits}
    manifest = write_golden(golden, args.out, hw, source, args.timing)
    cyc = manifest["cycles"]
    summary = {"out": str(args.out), "M": golden.shape[0], "K": golden.shape[1], "N": golden.shape[2],
               "M_low": manifest["unpack"]["M_low"], "K_low": manifest["unpack"]["K_low"],
               "N_low": manifest["unpack"]["N_low"], "strategy": golden.strategy,
               "passes": len(golden.passes), "jobs": len(manifest["jobs"]), "dataflow": hw.dataflow,
               "timing": args.timing, "cycles": cyc["expected_total"],
               "recomb_cycles": cyc["recomb_expected"]}
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {args.out}: a.hex {summary['M_low']}x{summary['K_low']}, "
              f"b.hex {summary['K_low']}x{summary['N_low']}, psum.hex {summary['passes']}x"
              f"{summary['M_low']}x{summary['N_low']}, c.hex {summary['M']}x{summary['N']}, manifest.json")
        print(f"strategy {golden.strategy}, {hw.dataflow} {hw.rows}x{hw.cols} {args.timing}, "
              f"{summary['jobs']} array jobs: expected cycles {summary['cycles']}, "
              f"recombination {summary['recomb_cycles']}")
    return 0


def _sim(args: argparse.Namespace) -> int:
    from imsim.rtl.compare import compare_export, load_manifest
    from imsim.rtl.export import VERSION
    from imsim.rtl.runs import run_design

    export_dir = Path(args.dir)
    manifest = load_manifest(export_dir)
    if manifest.get("version") != VERSION:
        raise UserError(f"{export_dir / 'manifest.json'}: version {manifest.get('version')!r}, "
                        f"`imsim rtl sim` needs version {VERSION}; re-export with `imsim rtl export`")
    arr, rec = run_design(export_dir, manifest, args.simulator)
    psum = compare_export(export_dir, arr.results, "psum", arr.cycles)
    c = compare_export(export_dir, rec.results, "c", arr.cycles, recomb_cycles=rec.cycles)
    out = {"simulator": args.simulator, "results": str(arr.results), "c_results": str(rec.results),
           "cycles": arr.cycles, "expected_cycles": psum.expected_cycles,
           "job_cycles": list(arr.job_cycles), "recomb_cycles": rec.cycles,
           "expected_recomb_cycles": c.expected_recomb_cycles, "psum_exact": psum.exact,
           "c_exact": c.exact}
    if args.json:
        print_json(out)
    else:
        print(f"wrote {arr.results}: {len(arr.job_cycles)} array jobs, {arr.cycles} cycles "
              f"(imsim {psum.expected_cycles}); PE results {'exact' if psum.exact else 'DIFFER'}")
        print(f"wrote {rec.results}: {rec.ops} shift-and-adds, {rec.cycles} cycles "
              f"(imsim {c.expected_recomb_cycles}); C {'exact' if c.exact else 'DIFFERS'}")
    good = psum.exact and c.exact and psum.cycle_diff == 0 and c.recomb_cycle_diff in (0, None)
    return 0 if good else 1


def _compare(args: argparse.Namespace) -> int:
    from imsim.rtl.compare import compare_export, report_lines

    if args.recomb_cycles is not None and args.against != "c":
        raise UserError("command line: --recomb-cycles needs --against c (the recombination "
                        "unit's count)")
    if args.exact_cycles and args.cycles is None and args.recomb_cycles is None:
        raise UserError("command line: --exact-cycles needs --cycles N (and/or --recomb-cycles N "
                        "with --against c): there is no count to check")
    cmp = compare_export(args.dir, args.results, args.against, args.cycles, args.max_report,
                         recomb_cycles=args.recomb_cycles)
    if args.exact_cycles:
        missing = [what for what, given, model in
                   (("cycles", args.cycles, cmp.expected_cycles),
                    ("recomb cycles", args.recomb_cycles, cmp.expected_recomb_cycles))
                   if given is not None and model is None]
        if missing:
            raise UserError(f"{Path(args.dir) / 'manifest.json'}: no imsim {missing[0]} model in "
                            f"this export; --exact-cycles cannot check it (re-export with this "
                            f"imsim version)")
    if args.json:
        print_json(cmp.to_dict())
    else:
        print("\n".join(report_lines(cmp, args.results)))
    if not cmp.exact:
        return 1
    if args.exact_cycles and (cmp.cycle_diff not in (0, None) or cmp.recomb_cycle_diff not in (0, None)):
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `imsim rtl` and its sub-commands."""
    from imsim.rtl.simulator import SIMULATORS

    rtl = subparsers.add_parser("rtl", help="golden vectors, reference design and compare for RTL",
                                description=__doc__.splitlines()[0])
    sub = rtl.add_subparsers(dest="rtl_command", metavar="SUBCOMMAND", parser_class=type(rtl))
    rtl.set_defaults(func=lambda args: (rtl.print_help(), 2)[1])

    ex = sub.add_parser("export", help="write golden vectors (hex, npy) and manifest.json")
    add_hw_arg(ex)
    src = ex.add_mutually_exclusive_group(required=True)
    src.add_argument("--gemm", type=gemm_arg, metavar="M,K,N",
                     help="random integer GEMM of this shape (uniform b-bit entries plus --heavy heavy hitters)")
    src.add_argument("--trace", metavar="TRACE",
                     help="trace name (`imsim trace list`) or .npz / folder; floats are RTN-quantized")
    ex.add_argument("--gemm-index", "--index", dest="gemm_index", type=int_arg("--gemm-index"),
                    default=0, help="trace record (default 0)")
    add_bits_args(ex, note=": overrides the design's a_bits and w_bits")
    add_strategy_arg(ex)
    ex.add_argument("--timing", choices=TIMINGS, default="pipelined",
                    help="array timing the reference design follows (default pipelined)")
    add_seed_arg(ex, "the --gemm operands")
    add_heavy_arg(ex, DEFAULT_HEAVY, "the --gemm operands (entries of up to two extra digit levels)")
    add_quant_args(ex, beta_help="--trace: RTN threshold for float records, alpha = the k-th largest |x|, "
                                 "k = int(numel (1 - beta)) (default 1.0)")
    ex.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a hardware key")
    add_out_arg(ex, required=True, type=Path, help="folder to write")
    add_json_arg(ex)
    ex.set_defaults(func=_export)

    sm = sub.add_parser("sim", help="run the reference array and recombination unit on DIR")
    sm.add_argument("dir", metavar="DIR", help="folder written by `imsim rtl export`")
    sm.add_argument("--simulator", choices=SIMULATORS, default="icarus",
                    help="Verilog simulator (default icarus; verilator builds first, then runs faster)")
    add_json_arg(sm)
    sm.set_defaults(func=_sim)

    cp = sub.add_parser("compare", help="compare an RTL's results file with the golden values")
    cp.add_argument("dir", metavar="DIR", help="folder written by `imsim rtl export`")
    cp.add_argument("results", metavar="RESULTS.hex", help="$writememh output of the RTL")
    cp.add_argument("--against", choices=("psum", "c"), default="psum",
                    help="golden values: psum (PE results, default) or c (after recombination)")
    cp.add_argument("--cycles", type=int_arg("--cycles"),
                    help="array cycles the RTL took (all jobs, first operand in to last result out)")
    cp.add_argument("--recomb-cycles", type=int_arg("--recomb-cycles"),
                    help="recombination unit busy cycles (with --against c)")
    cp.add_argument("--max-report", type=int_arg("--max-report"), default=10,
                    help="mismatches to list (default 10)")
    cp.add_argument("--exact-cycles", action="store_true",
                    help="exit 1 also when a given cycle count differs from imsim's")
    add_json_arg(cp)
    cp.set_defaults(func=_compare)
