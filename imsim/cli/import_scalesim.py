"""`imsim import-scalesim CONFIG.cfg TOPOLOGY.csv`: SCALE-Sim setup -> imsim hardware YAML + trace."""
from __future__ import annotations

import argparse
from pathlib import Path

from imsim.cli.common import print_json
from imsim.cli.vocabulary import (add_bits_args, add_heavy_arg, add_json_arg, add_out_arg, add_seed_arg,
                                  deprecated_alias, resolve_bits)
from imsim.errors import bad_value

DEFAULT_HEAVY = 0.01


def add_value_args(p: argparse.ArgumentParser) -> None:
    """--heavy / --seed of the synthetic operand values of an imported shape list (shared with
    import-shapes); --heavy-fraction stays as a hidden, deprecated alias of --heavy."""
    deprecated_alias(p, "--heavy-fraction", add_heavy_arg(p, DEFAULT_HEAVY, "the synthetic A operands"))
    add_seed_arg(p, "the synthetic operand values")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import-scalesim", help="convert a SCALE-Sim config + GEMM topology into an imsim config and trace",
        description="Write <out>/<run_name>.yaml (hardware config) and <out>/<topology>.npz (a shape-only trace: "
                    "the topology's GEMM shapes and layer names with synthetic values). Topology columns are read "
                    "by their header names (SCALE-Sim's GEMM format Layer, M, N, K; its convolution format is "
                    "lowered to GEMMs). For shapes without a .cfg use `imsim import-shapes`.")
    p.add_argument("config", help="SCALE-Sim config (.cfg, INI with [architecture_presets])")
    p.add_argument("topology", help="SCALE-Sim topology CSV (GEMM: Layer, M, N, K; or convolution format)")
    deprecated_alias(p, "--out-dir", add_out_arg(p, default=".", help="where to write the files (default: current folder)"))
    p.add_argument("--name", default=None, help="design name / file stem (default: the config's run_name)")
    add_bits_args(p, default=8, note=" (SCALE-Sim has none)")
    add_value_args(p)
    add_json_arg(p, "one JSON object describing the files written")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from imsim.scalesim_import import read_config, read_topology, write_hw_yaml, write_trace

    a_bits, w_bits = resolve_bits(args)
    cfg = read_config(args.config, bits=a_bits)
    if w_bits != a_bits:
        cfg = type(cfg)(hw={**cfg.hw, "w_bits": w_bits}, ignored=cfg.ignored)
    layers = read_topology(args.topology)
    if args.name:
        cfg = type(cfg)(hw={**cfg.hw, "name": args.name}, ignored=cfg.ignored)
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise bad_value("command line", "--out", str(out_dir), "names a file; give a folder (created if missing)")
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
