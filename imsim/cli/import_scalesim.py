"""`imsim import-scalesim CONFIG.cfg TOPOLOGY.csv`: SCALE-Sim setup -> imsim hardware YAML + trace."""
from __future__ import annotations

import argparse
from pathlib import Path

from imsim.cli.common import bits_arg, int_arg, print_json, unit_interval_arg

DEFAULT_HEAVY = 0.01


def add_value_args(p: argparse.ArgumentParser) -> None:
    """--heavy / --seed of the synthetic operand values of an imported shape list (shared with
    import-shapes); --heavy-fraction stays as a hidden, deprecated alias of --heavy."""
    p.add_argument("--heavy", type=unit_interval_arg("--heavy", closed_top=False),
                   default=DEFAULT_HEAVY, metavar="F",
                   help=f"fraction of heavy hitters in the synthetic A operands (default {DEFAULT_HEAVY}; "
                        f"imsim.trace.synthetic)")
    p.add_argument("--seed", type=int_arg("--seed"), default=0, help="seed of the synthetic operand values")
    p.add_argument("--heavy-fraction", dest="heavy", action=_OldSpelling, new="--heavy",
                   type=unit_interval_arg("--heavy-fraction", closed_top=False))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import-scalesim", help="convert a SCALE-Sim config + GEMM topology into an imsim config and trace",
        description="Write <out>/<run_name>.yaml (hardware config) and <out>/<topology>.npz (a shape-only trace: "
                    "the topology's GEMM shapes and layer names with synthetic values). Topology columns are read "
                    "by their header names (SCALE-Sim's GEMM format Layer, M, N, K; its convolution format is "
                    "lowered to GEMMs). For shapes without a .cfg use `imsim import-shapes`.")
    p.add_argument("config", help="SCALE-Sim config (.cfg, INI with [architecture_presets])")
    p.add_argument("topology", help="SCALE-Sim topology CSV (GEMM: Layer, M, N, K; or convolution format)")
    p.add_argument("--out", default=".", metavar="DIR", help="folder to write the files into (default: current folder)")
    p.add_argument("--out-dir", dest="out", action=_OldSpelling, new="--out")
    p.add_argument("--name", default=None, help="design name / file stem (default: the config's run_name)")
    p.add_argument("--bits", type=bits_arg("--bits"), default=8,
                   help="operand width a_bits = w_bits (SCALE-Sim has none; default 8)")
    add_value_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object describing the files written")
    p.set_defaults(func=run)


class _OldSpelling(argparse.Action):
    """A hidden, deprecated spelling of an option: parses like it, notes the new name on stderr."""

    def __init__(self, option_strings, dest, new: str = "", type=None, **kw) -> None:  # noqa: A002
        super().__init__(option_strings, dest, type=type, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        import sys

        print(f"imsim: note: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def run(args: argparse.Namespace) -> int:
    from imsim.scalesim_import import read_config, read_topology, write_hw_yaml, write_trace

    cfg = read_config(args.config, bits=args.bits)
    layers = read_topology(args.topology)
    if args.name:
        cfg = type(cfg)(hw={**cfg.hw, "name": args.name}, ignored=cfg.ignored)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(cfg.hw["name"]))
    hw_path = write_hw_yaml(cfg, out_dir / f"{stem}.yaml", origin=str(args.config))
    trace_path = write_trace(layers, out_dir / f"{Path(args.topology).stem}.npz", heavy=args.heavy,
                             seed=args.seed, model=Path(args.topology).stem, source=str(args.topology))
    summary = {"hw_config": str(hw_path), "trace": str(trace_path), "layers": len(layers),
               "macs": sum(lay.M * lay.K * lay.N for lay in layers), "ignored": list(cfg.ignored),
               "hw": cfg.hw, "provenance": "shape-only", "heavy": args.heavy, "seed": args.seed}
    if args.json:
        print_json(summary)
    else:
        print(f"hardware config: {hw_path}")
        print(f"trace: {trace_path} ({len(layers)} GEMMs, {summary['macs']} MACs; shape-only: synthetic operand "
              f"values, --heavy {args.heavy} --seed {args.seed})")
        if cfg.ignored:
            print(f"ignored SCALE-Sim settings: {', '.join(cfg.ignored)}")
    return 0
