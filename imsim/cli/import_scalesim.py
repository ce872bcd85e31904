"""`imsim import-scalesim CONFIG.cfg TOPOLOGY.csv`: SCALE-Sim setup -> imsim hardware YAML + trace."""
from __future__ import annotations

import argparse
from pathlib import Path

from imsim.cli.common import bits_arg, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import-scalesim", help="convert a SCALE-Sim config + GEMM topology into an imsim config and trace",
        description="Write <out-dir>/<run_name>.yaml (hardware config) and <out-dir>/<topology>.npz (a synthetic "
                    "trace with the topology's GEMM shapes and layer names). SCALE-Sim's GEMM topology columns "
                    "are Layer, M, N, K; the convolution format is lowered to GEMMs.")
    p.add_argument("config", help="SCALE-Sim config (.cfg, INI with [architecture_presets])")
    p.add_argument("topology", help="SCALE-Sim topology CSV (GEMM: Layer, M, N, K; or convolution format)")
    p.add_argument("--out-dir", default=".", metavar="DIR", help="where to write the files (default: current folder)")
    p.add_argument("--name", default=None, help="design name / file stem (default: the config's run_name)")
    p.add_argument("--bits", type=bits_arg("--bits"), default=8,
                   help="operand width a_bits = w_bits (SCALE-Sim has none; default 8)")
    p.add_argument("--heavy-fraction", type=float, default=0.01,
                   help="fraction of outlier entries in the synthetic A operands (default 0.01)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic operand values")
    p.add_argument("--json", action="store_true", help="print one JSON object describing the files written")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from imsim.errors import bad_value
    from imsim.scalesim_import import read_config, read_topology, write_hw_yaml, write_trace

    if not 0.0 <= args.heavy_fraction <= 1.0:
        raise bad_value(None, "--heavy-fraction", args.heavy_fraction, "must be in [0, 1]")
    cfg = read_config(args.config, bits=args.bits)
    layers = read_topology(args.topology)
    if args.name:
        cfg = type(cfg)(hw={**cfg.hw, "name": args.name}, ignored=cfg.ignored)
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise bad_value("command line", "--out-dir", str(out_dir), "names a file; give a folder (created if missing)")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(cfg.hw["name"]))
    hw_path = write_hw_yaml(cfg, out_dir / f"{stem}.yaml", origin=str(args.config))
    trace_path = write_trace(layers, out_dir / f"{Path(args.topology).stem}.npz", heavy_fraction=args.heavy_fraction,
                             seed=args.seed, model=Path(args.topology).stem)
    summary = {"hw_config": str(hw_path), "trace": str(trace_path), "layers": len(layers),
               "macs": sum(lay.M * lay.K * lay.N for lay in layers), "ignored": list(cfg.ignored),
               "hw": cfg.hw}
    if args.json:
        print_json(summary)
    else:
        print(f"hardware config: {hw_path}")
        print(f"trace: {trace_path} ({len(layers)} GEMMs, {summary['macs']} MACs; synthetic operand values)")
        if cfg.ignored:
            print(f"ignored SCALE-Sim settings: {', '.join(cfg.ignored)}")
    return 0
