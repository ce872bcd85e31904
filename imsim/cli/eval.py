"""`imsim eval`: model-level quality of a design, with every GEMM of a real model through imsim.

  imsim eval minilm  [--hw HW] [--bits B] [--beta 0.99] [--levels 15] [--strategy auto] [--json]
  imsim eval smollm2 [--hw HW] [--bits B] [--beta 1.0] [--levels 255] [--json]      (llm extra)

Each GEMM of the model is quantized (quantizer, beta, levels), unpacked for the design's
a_bits / w_bits, executed exactly in its accumulators, recombined and dequantized. Reports the
model metrics against the float model, whether the outputs equal the non-unpacked quantized
run's bit for bit, and the run's cycles and energy on the design. Needs the torch extra.
"""
from __future__ import annotations

import argparse

from imsim.cli.common import add_quant_args, print_json, quant_kwargs
from imsim.cli.vocabulary import add_bits_args, add_hw_arg, add_json_arg, add_strategy_arg, bits_overrides
from imsim.errors import UserError


def _run(args: argparse.Namespace) -> int:
    from imsim.hwconfig import load_hw_config
    from imsim.modeleval.registry import get_model

    spec = get_model(args.model, "command line", "MODEL")
    hw = load_hw_config(args.hw, list(args.set) + bits_overrides(args))
    try:
        import torch  # noqa: F401,PLC0415
    except ImportError:
        raise UserError(f"imsim eval {spec.name} needs PyTorch: pip install 'imsim[torch]' "
                        f"(extras: {spec.needs})") from None
    from imsim.models.minilm import set_offline
    from imsim.modeleval.evaluate import evaluate_model
    from imsim.modeleval.gemm import QuantSetting

    set_offline()
    setting = QuantSetting(beta=1.0 if args.beta is None else args.beta, **quant_kwargs(args),
                           granularity=args.granularity or spec.granularity)
    res = evaluate_model(spec.name, hw, setting, strategy=args.strategy, timing=args.timing, digits=args.digits)
    row = res.to_dict()
    if args.json:
        print_json(row)
        return _status(res, hw)
    s, c = res.setting, res.cost
    print(f"{spec.description}")
    print(f"design {hw.name}: {hw.rows}x{hw.cols} {hw.dataflow}, a_bits={hw.a_bits} w_bits={hw.w_bits}; "
          f"strategy {res.strategy}, digits {res.digits}; quantizer {s.quantizer}, beta {s.beta}, levels {s.levels} (w_levels {s.w_levels}), "
          f"granularity {s.granularity}")
    print("  " + ", ".join(f"{k} {v:.4f}" for k, v in res.metrics.items()) + "  (vs the float model)")
    print(f"  outputs equal the non-unpacked quantized run bit for bit: {'yes' if res.bit_exact else 'NO'}"
          + ("" if res.bit_exact else f" (max |diff| {res.max_abs_diff:.3g})"))
    print(f"  {c['gemms']} GEMMs, {c['useful_macs']} MACs, unpack ratio {c['unpack_ratio']:.3f}, "
          f"{c.get('cycles', 0)} cycles, {c.get('energy_pj', 0.0) / 1e6:.3f} uJ  ({res.seconds} s)")
    return _status(res, hw)


def _status(res, hw) -> int:
    """1 (internal error) when the unpacked run differs from the quantized run although every
    accumulator raises on overflow: that would be a bug in imsim; wrap/saturate may differ."""
    return 0 if res.bit_exact or hw.overflow != "error" else 1


def register(subparsers) -> None:
    from imsim.modeleval.registry import MODELS

    p = subparsers.add_parser("eval", help="model-level quality of a design: a real model with every GEMM "
                                           "through imsim (torch extra)", description=__doc__.splitlines()[0])
    p.add_argument("model", metavar="MODEL", help="; ".join(f"{m.name}: {m.description}" for m in MODELS.values()))
    add_hw_arg(p)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hardware key (repeatable), e.g. --set sram_a_kib=128")
    add_bits_args(p, note=": overrides the design's a_bits and w_bits")
    add_quant_args(p)
    p.add_argument("--granularity", choices=("tensor", "channel"), default=None,
                   help="quantization groups: tensor, or channel (A per row/token, B per column/output "
                        "channel); default: the model's (minilm tensor, smollm2 channel)")
    add_strategy_arg(p)
    p.add_argument("--timing", choices=("pipelined", "scalesim"), default="pipelined",
                   help="array timing mode (default pipelined)")
    add_json_arg(p)
    p.set_defaults(func=_run)
