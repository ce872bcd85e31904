"""`imsim demo`: the main job. The bundled real trace (MiniLM forward and backward GEMMs) on a
equal-area int8 / int6 / int4 / int2 arrays, one quantization for all (imsim.demo: paper RTN, beta 0.99, d = 15);
prints the summary table, writes results and one trade-off plot into --out (default imsim-demo/).
Exit 1 if any result is not exact."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imsim.cli.common import format_table, int_arg, print_json
from imsim.cli.vocabulary import add_json_arg, add_out_arg, add_workers_arg
from imsim.errors import UserError

DEFAULT_OUT = "imsim-demo"
PLOT_NAME = "demo_tradeoff.png"
TOTALS_NAME = "demo_totals.csv"
GEMMS_NAME = "demo_gemms.csv"
TABLE_NAME = "demo_summary.md"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the main job: bundled MiniLM trace on int8 / int4 / int2 arrays, "
                                    "summary table and a trade-off plot",
                       description="Run the bundled real trace (MiniLM forward and backward GEMMs), quantized once "
                                   "for all designs (paper RTN, beta 0.99, d = 15 levels), on equal-area arrays: "
                                   "int8 32x32, int6 35x35 and int2 41x41 (strategy auto) and int4 38x38 with each unpack "
                                   "strategy (row, col, both, auto); same SRAMs, DRAM bandwidth and accumulators. Prints unpack "
                                   "ratio, cycles, energy (pJ), area (um^2), energy per useful MAC (pJ) and exactness; "
                                   "writes CSV tables and a trade-off plot into --out. Exit 1 if a result is not exact.")
    add_out_arg(p, default=DEFAULT_OUT, help=f"output folder for the plot and tables (default: ./{DEFAULT_OUT})")
    p.add_argument("--trace", default=None, metavar="TRACE",
                   help="a trace name (`imsim trace list`) or .npz file / folder instead of the bundled one")
    p.add_argument("--max-gemms", type=int_arg("--max-gemms", 1), default=None, metavar="N",
                   help="use only the first N GEMMs of the trace (quick look)")
    add_workers_arg(p, "local worker processes over the GEMMs")
    add_json_arg(p, "one JSON object instead of the table")
    p.set_defaults(func=run)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from imsim import __version__
    from imsim.demo import plot_demo, run_demo

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    from imsim.workers import default_workers

    workers = args.workers if args.workers is not None else default_workers()
    from imsim.trace.registry import resolve

    trace_path = resolve(args.trace) if args.trace is not None else None
    result = run_demo(trace_path=trace_path, max_gemms=args.max_gemms, workers=workers, progress=_progress)
    plot = plot_demo(result, out / PLOT_NAME)
    totals_csv = out / TOTALS_NAME
    pd.DataFrame(list(result.rows)).to_csv(totals_csv, index=False)
    gemms_csv = out / GEMMS_NAME
    pd.DataFrame(list(result.gemm_rows)).to_csv(gemms_csv, index=False)
    table = format_table(result.summary())
    (out / TABLE_NAME).write_text(_markdown(result, __version__))
    _progress(f"demo: {result.gemms} GEMMs x {len(result.rows)} runs in {result.seconds:.1f} s; "
              f"wrote {plot}, {totals_csv}, {gemms_csv}, {out / TABLE_NAME}")
    if args.json:
        print_json({"imsim_version": __version__, "trace": result.trace, "gemms": result.gemms,
                    "seconds": round(result.seconds, 3), "all_exact": result.all_exact,
                    "out_dir": str(out), "plot": str(plot), "totals_csv": str(totals_csv),
                    "gemms_csv": str(gemms_csv), "rows": list(result.rows)})
    else:
        print(f"imsim demo: trace {result.trace} ({result.gemms} GEMMs), {_setting()}")
        print(table)
        print(f"all exact: {'yes' if result.all_exact else 'NO'}")
        print(f"plot: {plot}")
        print(f"tables: {totals_csv}, {gemms_csv}")
    if not result.all_exact:
        bad = [f"{r['design']}/{r['strategy']}" for r in result.rows if not r["exact"]]
        print(f"imsim demo: results not exact for {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


def _setting() -> str:
    from imsim.demo import DEMO_BETA, DEMO_LEVELS, DEMO_QUANTIZER

    return (f"equal-area output-stationary arrays, one quantization for all ({DEMO_QUANTIZER} RTN, "
            f"beta {DEMO_BETA}, d = {DEMO_LEVELS})")


def _markdown(result, version: str) -> str:
    """The summary as a markdown table with its inputs (for docs that quote the demo)."""
    cols = list(result.summary()[0]) if result.rows else []
    lines = [f"imsim {version}, trace `{Path(result.trace).name}` ({result.gemms} GEMMs), "
             f"{_setting()}, pipelined timing, exact execution.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in result.summary():
        cells = []
        for c in cols:
            v = r[c]
            cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
