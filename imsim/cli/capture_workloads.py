"""`imsim capture cnn`, `imsim capture vad` and `imsim capture module` (torch extra).

  imsim capture cnn [--out DIR] [--size HxW] [--no-backward] [--float32] [--json]
  imsim capture vad [--out DIR] [--seconds S] [--no-backward] [--float32] [--json]
  imsim capture module PKG.MOD:FACTORY [--input SHAPE|FILE.npy ...] [--backward] --out DIR [--json]

`cnn`: MTCNN's PNet, RNet and ONet with the real weights of PyPI facenet-pytorch
(imsim/models/mtcnn.py) on a procedurally generated image; default --out is the named
trace's folder (`imsim trace list`), so `imsim trace stats cnn` finds it. `vad`: Silero VAD
(imsim/models/silero_vad.py, weights of PyPI silero-vad) on a generated signal. `module`: any
nn.Module built by a factory (contract in imsim/trace/factory.py and docs/traces.md).
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from imsim.cli.common import print_json
from imsim.cli.vocabulary import add_float32_arg, add_json_arg, add_out_arg, add_seed_arg
from imsim.errors import UserError, bad_value


def _need_torch() -> None:
    try:
        import torch  # noqa: F401,PLC0415
    except ImportError:
        raise UserError("imsim capture needs PyTorch: pip install 'imsim[torch]' (torch==2.13.0)") from None


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        h = w = 0
    if h < 12 or w < 12:
        raise bad_value("command line", "--size", text, "must be HxW with H, W >= 12 (PNet's window), e.g. 96x128")
    return h, w


def _save(args: argparse.Namespace, trace, info: dict, start: float, what: str) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from imsim.trace.format import save_trace

        out = save_trace(args.out, trace, float_dtype=args.float_dtype)
    info.update(out=str(out), seconds=round(time.perf_counter() - start, 2),
                fwd_gemms=sum(r.phase == "fwd" for r in trace), bwd_gemms=sum(r.phase == "bwd" for r in trace))
    skipped = info.get("skipped_ops") or {}
    if skipped:
        print("imsim: warning: capture skipped compute ops it cannot lower to GEMMs: "
              + ", ".join(f"aten.{op} x{n}" for op, n in skipped.items()) + " (listed in the trace's skipped_ops)",
              file=sys.stderr)
    if args.json:
        print_json(info)
    else:
        print(f"captured {info['gemms']} GEMMs ({info['fwd_gemms']} fwd, {info['bwd_gemms']} bwd; {info['macs']} MACs) "
              f"from {what} -> {out}")
    return 0


def _named(args: argparse.Namespace, name: str, capture, what) -> int:
    """Run a named trace's capture (default --out: the name's folder in the trace folder) and save it."""
    _need_torch()
    from imsim.trace.registry import entry, entry_path

    if args.out is None:
        args.out = entry_path(entry(name))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace, info = capture()
    return _save(args, trace, info, start, what(info))


def _cnn(args: argparse.Namespace) -> int:
    from imsim.models.mtcnn import capture_mtcnn

    return _named(args, "cnn", lambda: capture_mtcnn(*args.size, backward=args.backward),
                  lambda info: f"MTCNN on {info['image']}")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0.032 <= value <= 60:
        raise bad_value("command line", "--seconds", text, "must be a number of seconds in [0.032, 60]")
    return value


def _vad(args: argparse.Namespace) -> int:
    from imsim.models.silero_vad import capture_vad

    return _named(args, "vad", lambda: capture_vad(args.seconds, backward=args.backward),
                  lambda info: f"Silero VAD on {info['audio']} ({info['chunks']} chunks)")


def _module(args: argparse.Namespace) -> int:
    _need_torch()
    from imsim.trace.factory import capture_factory

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace, info = capture_factory(args.factory, args.input, backward=args.backward, seed=args.seed)
    return _save(args, trace, info, start, f"{info['model']} ({args.factory})")


def _float32(p: argparse.ArgumentParser) -> None:
    add_float32_arg(p)
    add_json_arg(p)


def _named_parser(sub, name: str, func, help_text: str, description: str, loss: str) -> argparse.ArgumentParser:
    """The parser of a named trace's capture: --out (default: the name's folder), --no-backward, --float32, --json."""
    p = sub.add_parser(name, help=help_text, description=description)
    add_out_arg(p, type=Path, default=None, help=f"output trace folder (default: the named trace's folder, "
                                                f"traces/{name} or $IMSIM_TRACE_DIR/{name})")
    p.add_argument("--no-backward", dest="backward", action="store_false",
                   help=f"forward only (default: also the backward of {loss})")
    _float32(p)
    p.set_defaults(func=func)
    return p


def register_subcommands(sub) -> None:
    """Add `cnn`, `vad` and `module` under `imsim capture`."""
    c = _named_parser(sub, "cnn", _cnn, "MTCNN (facenet-pytorch weights): conv + linear GEMMs, forward + backward",
                      "Capture MTCNN's PNet (whole image), RNet (24x24 crops) and ONet (48x48 crops) with the real "
                      "weights of PyPI facenet-pytorch on a procedurally generated face image; convolutions are "
                      "lowered to GEMMs by im2col.", "MTCNN's training loss")
    c.add_argument("--size", type=_size, default=(96, 128), metavar="HxW", help="image size (default 96x128)")
    v = _named_parser(sub, "vad", _vad, "Silero VAD (silero-vad weights): conv1d encoder + LSTM cell, forward + backward",
                      "Capture Silero VAD (16 kHz) with the real weights of PyPI silero-vad on a procedurally "
                      "generated speech-like signal: STFT and conv1d encoder batched over 512-sample chunks, the "
                      "LSTM cell chunk by chunk (M = 1).", "a speech/silence cross-entropy")
    v.add_argument("--seconds", type=_seconds, default=0.5, metavar="S", help="signal length (default 0.5 s)")

    m = sub.add_parser("module", help="any nn.Module from a factory PKG.MOD:FACTORY (see docs/traces.md)",
                       description="Capture the GEMMs of the nn.Module a factory builds: FACTORY() returns "
                                   "(module, inputs) or (module, inputs, loss_fn).")
    m.add_argument("factory", metavar="PKG.MOD:FACTORY", help="module path (or path/to/file.py) and factory name")
    m.add_argument("--input", action="append", default=None, metavar="SHAPE|FILE.npy",
                   help="forward argument (repeatable, in order): a shape like 2x3x32x32 (seeded N(0,1) float32) "
                        "or a .npy file; default: the factory's example inputs")
    m.add_argument("--backward", action="store_true", help="also capture the backward of the loss")
    add_seed_arg(m, "the --input shapes' values")
    add_out_arg(m, type=Path, required=True, help="output trace folder (or .npz file)")
    _float32(m)
    m.set_defaults(func=_module)
