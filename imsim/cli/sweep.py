"""`imsim sweep SPEC.yaml --out DIR`: run (or resume) a design-space sweep."""
from __future__ import annotations

import argparse

from imsim.cli.common import format_table, int_arg, print_json
from imsim.cli.display import exact_text
from imsim.cli.vocabulary import add_json_arg, add_out_arg, add_workers_arg
from imsim.limits import MAX_POINTS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sweep", help="run or resume a design-space sweep from a YAML spec",
        description="Run every point of a sweep spec (experiments/*.yaml) and write results.parquet/.csv "
                    "(one row per point and GEMM) and totals.parquet/.csv (one row per point) to --out. "
                    "Re-running the same command after an interruption computes only the missing points.")
    p.add_argument("spec", help="sweep spec YAML (see docs/sweeps.md)")
    add_out_arg(p, required=True, help="output folder (created; resumed if it holds this spec, grown if this spec "
                                       "only adds points to it)")
    add_workers_arg(p, "local worker processes")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (needs imsim[dask])")
    p.add_argument("--max-points", type=int_arg("--max-points", 1), default=MAX_POINTS, metavar="N",
                   help=f"refuse specs of more than N combinations before filters (default {MAX_POINTS}); "
                        "counted before anything is expanded")
    p.add_argument("--dry-run", action="store_true", help="validate the spec and count its points (every point checked, none built or run)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_json_arg(p, "one JSON object (run summary)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from imsim.sweep import load_spec, run_sweep

    if args.dry_run:  # validate and count; nothing is built, hashed or written
        count = load_spec(args.spec, max_points=args.max_points, count_only=True)
        if args.json:
            print_json(count.to_dict())
        else:
            print(f"{count.name}: {count.points} points ({count.combinations} combinations before filters)")
        return 0
    spec = load_spec(args.spec, max_points=args.max_points)
    report, tables = run_sweep(spec, args.out, workers=args.workers, scheduler=args.scheduler,
                               progress=not args.no_progress)
    if args.json:
        print_json(report.to_dict())
        return 0
    print(f"{spec.name}: {report.points_total} points ({report.points_computed} computed now, "
          f"{report.points_already_done} already done) in {report.seconds:.1f} s on {report.backend}")
    column_of = {"format": "format_a", "w_format": "format_b"}  # axis name -> results column
    varied = [column_of.get(k, k) for k, v in spec.normalized["axes"].items() if len(v) > 1]
    if spec.normalized.get("equal_area"):
        varied += ["rows", "cols"]
    figures = ["cycles", "energy_pj", "area_um2", "unpack_ratio", "exact"]
    cols = [c for c in dict.fromkeys(["point_index", *varied, *figures]) if c in tables.totals.columns]
    head = tables.totals[cols].head(10).to_dict("records")
    for row in head:
        if "exact" in row:
            value = row["exact"]
            row["exact"] = exact_text(None if value is None or value != value else bool(value), spec.normalized["execute"])
    print(format_table(head, cols))
    if len(tables.totals) > 10:
        print(f"... {len(tables.totals) - 10} more points")
    for key, path in report.tables.items():
        print(f"{key}: {path}")
    return 0
