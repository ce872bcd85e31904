"""`imsim trace`: inspect traces.

  imsim trace stats [TRACE] [--bits B] [--beta 0.99] [--levels D] [--quantizer Q] [--digits D]
                    [--strategy S,...|all] [--per-gemm] [--json]
  imsim trace list  [TRACE] [--json]

TRACE is a trace name (`imsim trace list` without TRACE lists them: bundled, minilm, smollm2,
cnn) or a `.npz` file or folder; `trace stats` defaults to the bundled MiniLM trace.
"""
from __future__ import annotations

import argparse

from imsim.cli.common import add_quant_args, format_table, print_json, quant_kwargs
from imsim.cli.vocabulary import add_bits_args, add_json_arg, add_strategy_arg, deprecated_alias, resolve_bits

# the trace readers and the statistics are imported where used (a lean `imsim --help`)


def _stats(args: argparse.Namespace) -> int:
    from imsim.trace.registry import open_named
    from imsim.trace.stats import trace_stats

    trace = open_named(args.path or "bundled", field="TRACE")
    a_bits, w_bits = resolve_bits(args)
    stats = trace_stats(trace, a_bits, w_bits, beta=args.beta, strategies=args.strategy,
                        digits=args.digits, **quant_kwargs(args))
    if args.json:
        print_json({"path": str(trace.path), **stats.to_dict()})
        return 0
    cols = ["name", "gemms", "macs", "a_out_of_range_fraction", "a_rows_fraction", "a_cols_fraction",
            "b_out_of_range_fraction", "b_rows_fraction", "b_cols_fraction", "rel_error"]
    cols += [f"unpack_ratio_{s}" for s in args.strategy]
    print(f"trace {trace.path}: {len(trace)} GEMMs, a_bits={a_bits} w_bits={w_bits} beta={args.beta} "
          f"levels={stats.levels or 2**a_bits - 1} w_levels={stats.w_levels or 2**w_bits - 1} "
          f"quantizer={stats.quantizer} digits={args.digits} "
          f"(RTN per tensor; fractions = entries / rows / columns outside the range)")
    if args.per_gemm:
        gcols = ["name", "kind", "phase", "M", "K", "N"] + cols[3:]
        print(format_table([g.to_dict() for g in stats.gemms], gcols))
        print()
    print(format_table([k.to_dict() for k in stats.kinds] + [stats.total.to_dict()], cols))
    return 0


def _registry(args: argparse.Namespace) -> int:
    from imsim.trace.registry import listing

    rows = listing()
    if args.json:
        print_json({"traces": rows})
        return 0
    shown = [{**r, "gemms": "-" if r["gemms"] is None else r["gemms"], "macs": "-" if r["macs"] is None else r["macs"]}
             for r in rows]
    print(format_table(shown, ["name", "model", "gemms", "macs", "phases", "status", "path"]))
    for r in rows:
        if r["status"] == "not captured":
            print(f"{r['name']}: capture with `{r['capture']}` (needs {r['needs']})")
    return 0


def _list(args: argparse.Namespace) -> int:
    if args.path is None:
        return _registry(args)
    from imsim.trace.provenance import describe
    from imsim.trace.registry import open_named

    trace = open_named(args.path, field="TRACE")
    rows = [{"index": r.index, "name": r.name, "kind": r.kind, "phase": r.phase, "model": r.model,
             "M": r.shape[0], "K": r.shape[1], "N": r.shape[2], "macs": r.macs} for r in trace]
    values = describe(r.meta for r in trace)
    skipped = dict(trace.meta.get("skipped_ops", {}))
    if args.json:
        print_json({"path": str(trace.path), "gemms": len(rows), "macs": trace.macs, "values": values,
                    "meta": dict(trace.meta), "records": rows})
    else:
        print(format_table(rows))
        print(f"{len(rows)} GEMMs, {trace.macs} MACs; values: {values}")
        if skipped:
            print("compute ops skipped by the capture (not in the trace): "
                  + ", ".join(f"aten.{op} x{n}" for op, n in skipped.items()))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("trace", help="inspect GEMM traces (stats, list)",
                                   description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="trace_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    stats = sub.add_parser("stats", help="heavy-hitter statistics and unpack ratios per GEMM and per kind")
    stats.add_argument("path", nargs="?", default=None, metavar="TRACE",
                       help="trace name or .npz file / folder (default: bundled)")
    add_bits_args(stats, default=8)
    add_quant_args(stats, beta_help="RTN threshold: alpha = the k-th largest |x|, k = int(numel (1 - beta)) "
                                    "(default 0.99)")
    stats.set_defaults(beta=0.99)
    deprecated_alias(stats, "--strategies", add_strategy_arg(stats, several=True))
    stats.add_argument("--per-gemm", action="store_true", help="also print one row per GEMM")
    add_json_arg(stats)
    stats.set_defaults(func=_stats)

    lst = sub.add_parser("list", help="list the named traces, or the GEMMs of one trace (metadata only)")
    lst.add_argument("path", nargs="?", default=None, metavar="TRACE",
                     help="trace name or .npz file / folder (default: list the named traces)")
    add_json_arg(lst)
    lst.set_defaults(func=_list)
