"""`imsim plot DIR --out FILE`: plots from a finished sweep folder."""
from __future__ import annotations

import argparse
from pathlib import Path

from imsim.cli.common import print_json
from imsim.cli.vocabulary import add_json_arg, add_out_arg


def register(subparsers: argparse._SubParsersAction) -> None:
    from imsim.plot import COST_CHOICES, DEFAULT_QUALITY, KINDS

    p = subparsers.add_parser(
        "plot", help="plot a sweep's results (unpack ratio, cost, Pareto front, per-layer heat map)",
        description="Render plots from the results of `imsim sweep`. With --kind all (default) one file per "
                    "kind is written, named FILE-<kind>.EXT.")
    p.add_argument("dir", help="sweep output folder (holding results.parquet and totals.parquet)")
    p.add_argument("--kind", default="all", choices=[*KINDS, "all"], help="plot kind (default: all)")
    add_out_arg(p, metavar="FILE", required=True, help="output image: .png, .pdf or .svg")
    p.add_argument("--cost", default="cycles", choices=COST_CHOICES,
                   help="pareto: the cost on x (default cycles)")
    p.add_argument("--quality", default=DEFAULT_QUALITY, metavar="COLUMN",
                   help=f"pareto: the quality column on y, any error or model-metric column of totals "
                        f"(default {DEFAULT_QUALITY}; e.g. sqnr_db, rel_error_max)")
    p.add_argument("--facet", default=None, metavar="COLUMN",
                   help="pareto: one panel per value of this column (e.g. quantizer, levels)")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="keep only rows whose column KEY equals VALUE (repeatable), e.g. --where levels=15")
    p.add_argument("--x", default=None, metavar="COLUMN", help="pareto: any x column of totals (overrides --cost)")
    p.add_argument("--y", default=None, metavar="COLUMN",
                   help="pareto: any y column of totals, minimised (overrides --quality)")
    add_json_arg(p, "one JSON object listing the files written")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from imsim.errors import about
    from imsim.plot import KINDS, check_out_path, parse_where, render
    from imsim.sweep.store import load_tables

    out = check_out_path(args.out)
    where = parse_where(args.where)
    tables = load_tables(args.dir)
    kinds = list(KINDS) if args.kind == "all" else [args.kind]
    written = {}
    for kind in kinds:
        path = out if len(kinds) == 1 else out.with_name(f"{out.stem}-{kind}{out.suffix}")
        with about(f"{args.dir}: --kind {kind}"):  # a missing column (--x/--y) names the sweep folder
            written[kind] = str(render(kind, tables.results, tables.totals, path, x=args.x, y=args.y,
                                       cost=args.cost, quality=args.quality, facet=args.facet, where=where))
    if args.json:
        print_json({"dir": str(Path(args.dir)), "files": written})
    else:
        for kind, path in written.items():
            print(f"{kind}: {path}")
    return 0
