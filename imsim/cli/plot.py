"""`imsim plot DIR --out FILE`: plots from a finished sweep folder."""
from __future__ import annotations

import argparse
from pathlib import Path

from imsim.cli.common import print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    from imsim.plot import KINDS

    p = subparsers.add_parser(
        "plot", help="plot a sweep's results (unpack ratio, cost, Pareto front, per-layer heat map)",
        description="Render plots from the results of `imsim sweep`. With --kind all (default) one file per "
                    "kind is written, named FILE-<kind>.EXT.")
    p.add_argument("dir", help="sweep output folder (holding results.parquet and totals.parquet)")
    p.add_argument("--kind", default="all", choices=[*KINDS, "all"], help="plot kind (default: all)")
    p.add_argument("--out", required=True, metavar="FILE", help="output image: .png, .pdf or .svg")
    p.add_argument("--x", default="area_um2", metavar="COLUMN", help="pareto: x column of totals (default area_um2)")
    p.add_argument("--y", default="cycles", metavar="COLUMN",
                   help="pareto: y column of totals (default cycles; e.g. energy_pj)")
    p.add_argument("--json", action="store_true", help="print one JSON object listing the files written")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from imsim.errors import about
    from imsim.plot import KINDS, check_out_path, render
    from imsim.sweep.store import load_tables

    out = check_out_path(args.out)
    tables = load_tables(args.dir)
    kinds = list(KINDS) if args.kind == "all" else [args.kind]
    written = {}
    for kind in kinds:
        path = out if len(kinds) == 1 else out.with_name(f"{out.stem}-{kind}{out.suffix}")
        with about(f"{args.dir}: --kind {kind}"):  # a missing column (--x/--y) names the sweep folder
            written[kind] = str(render(kind, tables.results, tables.totals, path, x=args.x, y=args.y))
    if args.json:
        print_json({"dir": str(Path(args.dir)), "files": written})
    else:
        for kind, path in written.items():
            print(f"{kind}: {path}")
    return 0
