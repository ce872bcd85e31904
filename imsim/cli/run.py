"""`imsim run`: simulate GEMMs (random or from a trace) on one hardware design."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from imsim.cli.common import add_quant_args, format_table, gemm_arg, print_json, quant_kwargs, rtn_requested
from imsim.cli.display import combined_exact_text, exact_text, strategy_text
from imsim.cli.vocabulary import (add_bits_args, add_heavy_arg, add_hw_arg, add_json_arg, add_out_arg, add_seed_arg,
                                  add_strategy_arg, add_workers_arg, resolve_bits)
from imsim.errors import UserError
from imsim.limits import check_gemm

# the unpacker and the simulator (simpy, the models) are imported where used: building the parser stays lean


DEFAULT_HEAVY = 0.005
HEAVY_SCALE = (2.0, 50.0)  # heavy hitters: this many times the body's max |x|

TABLE_COLUMNS = ["name", "M", "K", "N", "strategy", "unpack_ratio", "cycles", "compute_cycles",
                 "stall_cycles", "recomb_cycles", "utilization", "dram_bytes", "sram_bytes",
                 "energy_pj", "rel_error", "exact"]
SUMMARY_COLUMNS = ["kind", "phase", "gemms", "useful_macs", "unpack_ratio", "cycles", "stall_cycles",
                   "recomb_cycles", "utilization", "dram_bytes", "sram_bytes", "energy_pj", "rel_error", "exact"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="simulate GEMMs on one hardware design (cycles, traffic, energy, exactness)",
        description="Simulate one random GEMM (--gemm) or every GEMM of a trace (--trace) on the design "
                    "in --hw: unpack to the design's bit widths, map onto the array, run the memory "
                    "system, execute exactly and report per-GEMM and total figures.")
    add_hw_arg(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--gemm", type=gemm_arg, metavar="M,K,N", help="one random GEMM of this shape")
    src.add_argument("--trace", metavar="TRACE", help="a trace name (bundled, minilm, smollm2, cnn: "
                                                      "`imsim trace list`) or a .npz file / folder")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hardware key for this run (repeatable), e.g. --set dataflow=ws")
    add_bits_args(p, note=": overrides the design's a_bits and w_bits")
    add_strategy_arg(p)
    p.add_argument("--timing", choices=("scalesim", "pipelined"), default="pipelined",
                   help="array timing mode (default pipelined)")
    add_seed_arg(p, "the --gemm operands")
    add_heavy_arg(p, DEFAULT_HEAVY, f"the --gemm operands: entries of {HEAVY_SCALE[0]:g}..{HEAVY_SCALE[1]:g} x the "
                                    "Gaussian body's max |x|; the body's max maps to the top of the b-bit range, so "
                                    "heavy hitters fall outside it; 0 gives operands that fit (so --strategy none runs)")
    add_quant_args(p, beta_help="RTN threshold for float operands: alpha = the k-th largest |x|, "
                                "k = int(numel (1 - beta)) (trace default 1.0; --gemm without any of --beta, "
                                "--levels, --quantizer: alpha = the body's max, symmetric scale)")
    p.add_argument("--format", dest="fmt", default=None, metavar="eXmY",
                   help="quantize float operands to this eXmY/minifloat format (e.g. e2m3, fp8_e4m3) and align "
                        "exponents into an exact integer GEMM instead of RTN; without --bits the array widths "
                        "become the format's significand width")
    p.add_argument("--w-format", default=None, metavar="eXmY", help="B-side format (default: --format)")
    p.add_argument("--no-exact", action="store_true", help="skip exact execution (timing and traffic only)")
    p.add_argument("--per-gemm", action="store_true",
                   help="--trace: print one row per GEMM (default: totals by kind and phase)")
    add_out_arg(p, default=None, metavar="FILE.parquet",
                help="also write one row per GEMM to this Parquet file, as the GEMMs finish")
    add_json_arg(p, "one JSON object {hw, gemms, total}")
    add_workers_arg(p, "--trace: processes sharing the trace's GEMMs (traces under 64 GEMMs run in this process); "
                       "results are identical for any count")
    from imsim.cli.policy import add_arguments

    add_arguments(p)
    p.set_defaults(func=run)


def random_float_operands(M: int, K: int, N: int, heavy: float, seed: int
                          ) -> list[tuple[np.ndarray, float]]:
    """Seeded float operands [(A, body max|A|), (B, body max|B|)]: a Gaussian body plus a fraction
    `heavy` of heavy hitters (HEAVY_SCALE x the body's max |x|, random sign)."""
    rng = np.random.default_rng(seed)
    out = []
    for rows, cols in ((M, K), (K, N)):
        body = rng.standard_normal((rows, cols))
        x = body.copy()
        if heavy > 0:
            n = max(1, int(round(heavy * x.size)))
            idx = rng.choice(x.size, size=min(n, x.size), replace=False)
            mag = rng.uniform(*HEAVY_SCALE, size=idx.size) * np.abs(body).max()
            x.flat[idx] = np.where(rng.random(idx.size) < 0.5, -mag, mag)
        out.append((x, float(np.abs(body).max())))
    return out


def random_operands(M: int, K: int, N: int, a_bits: int, w_bits: int, heavy: float, seed: int,
                    beta: float | None = None, *, levels: int | None = None, w_levels: int | None = None,
                    quantizer: str = "paper", with_quality: bool = False):
    """Seeded integer operands from `random_float_operands`, RTN-quantized without clipping with
    alpha = the body's max |x| (symmetric scale (2^(b-1)-1)/alpha), or, when `beta` is given,
    by `quantize_rtn` (levels, quantizer). with_quality: also return the quality fields
    (imsim.quality) against the float product."""
    from imsim.quality import ERROR_FIELDS, quantize_gemm, scaled_error
    from imsim.quantize import qmax

    (xa, ma), (xb, mb) = random_float_operands(M, K, N, heavy, seed)
    if beta is not None:
        A, B, info = quantize_gemm(xa, xb, a_bits, w_bits, beta=beta, levels=levels, w_levels=w_levels,
                                   quantizer=quantizer)
    else:
        sa, sb = qmax(a_bits) / ma, qmax(w_bits) / mb
        A, B = np.rint(xa * sa).astype(np.int64), np.rint(xb * sb).astype(np.int64)
        info = {"quantizer": None, "beta": None, "levels": None, "w_levels": None,
                **{k: None for k in ERROR_FIELDS}}
        if with_quality:
            info.update(scaled_error(xa, xb, A, B, sa, sb).to_dict())
    return (A, B, info) if with_quality else (A, B)


def _formats(args: argparse.Namespace):
    """(A format, B format) from --format / --w-format, or None for RTN."""
    if args.fmt is None:
        if args.w_format is not None:
            raise UserError("--w-format needs --format (the A-side format)")
        return None
    if args.beta is not None:
        raise UserError("--format and --beta both choose how floats become integers; give one of them")
    if args.levels is not None or args.w_levels is not None or args.quantizer is not None:
        raise UserError("--levels / --w-levels / --quantizer set RTN quantization; --format quantizes to its own grid")
    from imsim.formats import parse_format

    return parse_format(args.fmt), parse_format(args.w_format or args.fmt)


def _load_hw(args: argparse.Namespace):
    from imsim.hwconfig import load_hw_config

    overrides = list(args.set)
    fmts = _formats(args)
    a_bits, w_bits = resolve_bits(args)
    if fmts is not None:
        a_bits = a_bits if a_bits is not None else fmts[0].significand_bits
        w_bits = w_bits if w_bits is not None else fmts[1].significand_bits
    overrides += [f"{key}={b}" for key, b in (("a_bits", a_bits), ("w_bits", w_bits)) if b is not None]
    return load_hw_config(args.hw, overrides)


def _open_trace(path: str):
    from imsim.trace.registry import open_named

    return open_named(path)


def _progress():
    """The trace progress bar on stderr (drawn only on a terminal), shown before the trace is
    opened: its total is set once the headers are read."""
    from tqdm import tqdm

    return tqdm(total=None, desc="imsim run", unit="gemm", disable=None, file=sys.stderr, mininterval=0.2)


def _job(args: argparse.Namespace, hw):
    """The per-GEMM settings of this command line (imsim.trace_run.GemmJob)."""
    from imsim.trace_run import GemmJob

    q = quant_kwargs(args)
    return GemmJob(strategy=args.strategy, digits=args.digits, objective=args.objective or hw.objective,
                   timing=args.timing, execute=not args.no_exact, beta=1.0 if args.beta is None else args.beta,
                   levels=q["levels"], w_levels=q["w_levels"], quantizer=q["quantizer"], formats=_formats(args))


def _random_gemm(args: argparse.Namespace, hw):
    """(integer A, integer B, meta, quality fields) of the --gemm operands."""
    M, K, N = args.gemm
    check_gemm(M, K, N, "--gemm")
    meta = {"name": f"gemm_{M}x{K}x{N}", "kind": "random", "phase": "", "model": "",
            "provenance": "synthetic", "heavy": args.heavy, "seed": args.seed}
    fmts = _formats(args)
    if fmts is not None:
        from imsim.formats import quantize_operands_exmy

        (xa, _), (xb, _) = random_float_operands(M, K, N, args.heavy, args.seed)
        A, B, _info = quantize_operands_exmy(xa, xb, *fmts)
        return A, B, meta, {}
    beta = args.beta if args.beta is not None or not rtn_requested(args) else 1.0
    A, B, quality = random_operands(M, K, N, hw.a_bits, hw.w_bits, args.heavy, args.seed, beta,
                                    **quant_kwargs(args), with_quality=True)
    return A, B, meta, quality


def _jobs(args: argparse.Namespace, hw, bar=None):
    """(integer A, integer B, meta, quality fields) per GEMM, in this process (the policy search)."""
    if args.gemm is not None:
        yield _random_gemm(args, hw)
        return
    from imsim.trace_run import quantize_at

    trace = _open_trace(args.trace)
    bar = bar if bar is not None else _progress()
    bar.reset(total=len(trace))
    job = _job(args, hw)
    for i in range(len(trace)):
        yield quantize_at(trace, i, hw, job)[:4]
        bar.update(1)
    bar.close()


def _results(args: argparse.Namespace, hw, bar):
    """(meta subset, GemmResult) per GEMM: the --gemm one, or the trace's in order (--workers)."""
    from imsim.trace_run import kept_meta, run_records, simulate_job

    job = _job(args, hw)
    if args.gemm is not None:
        A, B, meta, quality = _random_gemm(args, hw)
        yield kept_meta(meta), simulate_job(hw, job, A, B, meta, quality)
        return
    trace = _open_trace(args.trace)
    bar.reset(total=len(trace))
    yield from run_records(trace, hw, job, workers=args.workers, progress=bar.update)
    bar.close()


def run(args: argparse.Namespace) -> int:
    """Simulate GEMM by GEMM: each result goes to the running totals (per kind and phase) and,
    with --out, to the Parquet file as it comes; per-GEMM results are kept in memory only for
    --json and --per-gemm output, so a long trace runs in bounded memory."""
    from contextlib import nullcontext

    bar = _progress() if args.trace is not None else None  # first thing: progress within a second
    from imsim.blas import limit_blas_threads
    from imsim.results import GroupedTotals

    limit_blas_threads(1)  # many small GEMMs: one BLAS thread is faster than a spinning pool
    hw = _load_hw(args)
    if args.policy == "per-gemm":
        from imsim.cli.policy import run_policy

        return run_policy(args, hw, _jobs(args, hw, bar))
    if args.objective is not None and args.strategy != "auto":
        raise UserError(f"--objective {args.objective} chooses among unpack strategies: it needs --strategy auto "
                        f"(or --policy per-gemm), not --strategy {args.strategy}")
    per_gemm = args.json or args.per_gemm or args.gemm is not None
    kept, summary, bad, first_bad = [], GroupedTotals(), 0, None
    metas = []  # provenance of each GEMM (imsim.trace.provenance)
    writer = nullcontext()
    if args.out is not None:
        from imsim.result_writer import ResultWriter

        writer = ResultWriter(args.out)
    with writer:
        for meta, result in _results(args, hw, bar):
            metas.append(meta)
            summary.add(result)
            if args.out is not None:
                writer.write(result.to_dict())
            if per_gemm:
                kept.append(result)
            if result.exact is False:
                bad += 1
                first_bad = first_bad or result
    total = summary.total.value()
    if args.json:
        print_json({"hw": hw.to_dict(), "gemms": [r.to_dict() for r in kept], "total": total})
        return 0
    print(f"hw: {hw.name}  {hw.rows}x{hw.cols} {hw.dataflow}  a_bits={hw.a_bits} w_bits={hw.w_bits} "
          f"acc_bits={hw.acc_bits}  k_scale={hw.k_scale}  timing={args.timing}")
    from imsim.trace.provenance import describe

    print(f"values: {describe(metas)}")
    if per_gemm:
        rows = [r.to_dict() for r in kept]
        for row in rows:
            row["exact"] = exact_text(row["exact"], executed=not args.no_exact, status=row.get("exact_status"))
            row["strategy"] = strategy_text(row)
        rows.append({**total, "name": "TOTAL", "M": "", "K": "", "N": "", "strategy": "",
                     "exact": combined_exact_text(r["exact"] for r in rows)})
        print(format_table(rows, TABLE_COLUMNS))
    else:
        rows = summary.rows() + [{**total, "kind": "TOTAL", "phase": ""}]
        for row in rows:
            row["exact"] = exact_text(row.get("exact"), executed=not args.no_exact)
        print(f"{total['gemms']} GEMMs, totals by kind and phase (--per-gemm: one row per GEMM)")
        print(format_table(rows, SUMMARY_COLUMNS))
    if args.out is not None:
        print(f"per-GEMM results: {args.out} ({total['gemms']} rows)")
    if bad:
        print(f"{bad} GEMM(s) not exact; first: {first_bad.name} {first_bad.to_dict()['first_mismatch']}",
              file=sys.stderr)
    return 0
