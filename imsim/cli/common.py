"""Helpers shared by the CLI commands: JSON output, bit-width arguments, tables."""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from imsim.errors import UserError

MIN_BITS, MAX_BITS = 2, 16


def bits_arg(flag: str):
    """argparse `type=` for a bit width in 2..16 with the standard one-line error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise UserError(f"{flag} = {text!r}: must be an integer in {MIN_BITS}..{MAX_BITS}") from None
        if not MIN_BITS <= value <= MAX_BITS:
            raise UserError(f"{flag} = {value}: must be an integer in {MIN_BITS}..{MAX_BITS}")
        return value

    return parse


def gemm_arg(text: str) -> tuple[int, int, int]:
    """argparse `type=` for --gemm M,K,N (three integers >= 1)."""
    try:
        dims = tuple(int(p) for p in text.split(","))
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) < 1:
        raise UserError(f"--gemm = {text!r}: must be M,K,N with three integers >= 1, e.g. 128,768,768")
    return dims  # type: ignore[return-value]


def int_arg(flag: str, minimum: int = 0):
    """argparse `type=` for an integer >= `minimum`, with the standard one-line error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise UserError(f"{flag} = {text!r}: must be an integer >= {minimum}") from None
        if value < minimum:
            raise UserError(f"{flag} = {value}: must be an integer >= {minimum}")
        return value

    return parse


def positive_float_arg(flag: str):
    """argparse `type=` for a finite number > 0, with the standard one-line error."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise UserError(f"{flag} = {text!r}: must be a finite number > 0")
        return value

    return parse


def unit_interval_arg(flag: str, closed_top: bool = True):
    """argparse `type=` for a number in (0, 1] (`closed_top`, e.g. a quantile beta) or [0, 1)."""
    allowed = "a number in (0, 1]" if closed_top else "a number in [0, 1)"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise UserError(f"{flag} = {text!r}: must be {allowed}") from None
        ok = 0.0 < value <= 1.0 if closed_top else 0.0 <= value < 1.0
        if not ok:
            raise UserError(f"{flag} = {value}: must be {allowed}")
        return value

    return parse


def _default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout."""
    json.dump(obj, sys.stdout, default=_default, sort_keys=False)
    sys.stdout.write("\n")


def format_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """A plain fixed-width text table (no dependency)."""
    if not rows:
        return "(no rows)"
    columns = columns or list(rows[0])

    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return f"{v:.4g}"
        return str(v)

    body = [[cell(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in body]
    return "\n".join(lines)


def levels_arg(flag: str):
    """argparse `type=` for a number of distinct values d (odd integer >= 3)."""

    def parse(text: str) -> int:
        from imsim.quantize import check_levels  # when a value is given, not at parser build

        try:
            value = int(text)
        except ValueError:
            value = text
        return check_levels(value, flag, "command line")

    return parse


class LazyChoices(Sequence):
    """argparse `choices` read from `module.attr` (a tuple of names) on first use: building the
    parser imports nothing; the module loads when a value is checked or a command's help is shown.
    Give the argument a `metavar` and `%(choices)s` in its help: argparse lists the choices of an
    argument without a metavar while adding it."""

    def __init__(self, module: str, attr: str, extra: tuple[str, ...] = ()) -> None:
        self.module, self.attr, self.extra = module, attr, extra
        self._values: tuple[str, ...] | None = None

    def _get(self) -> tuple[str, ...]:
        if self._values is None:
            import importlib

            self._values = tuple(getattr(importlib.import_module(self.module), self.attr)) + self.extra
        return self._values

    def __getitem__(self, i):  # type: ignore[override]
        return self._get()[i]

    def __len__(self) -> int:
        return len(self._get())

    def __contains__(self, value: object) -> bool:
        return value in self._get()

    def __iter__(self):
        return iter(self._get())


def add_quant_args(parser: argparse.ArgumentParser, *, beta: bool = True, beta_help: str | None = None,
                   digits: bool = True) -> None:
    """The quantization flags shared by every command that turns floats into integers:
    --beta, --levels, --w-levels, --quantizer and (for commands that unpack) --digits. Their
    names match the sweep axes and result columns `beta`, `levels`, `w_levels`, `quantizer`,
    `digits`. Defaults: beta None (the command's own default, 1.0 for traces), levels None
    (2^bits - 1 of that operand's width), quantizer paper, digits signmag."""
    first = len(parser._actions)
    if beta:
        parser.add_argument("--beta", type=unit_interval_arg("--beta"), default=None,
                            help=beta_help or "RTN threshold: alpha = the k-th largest |x| with "
                                              "k = int(numel (1 - beta)) (default 1.0: max |x|)")
    parser.add_argument("--levels", type=levels_arg("--levels"), default=None, metavar="D",
                        help="distinct values of the A-side quantization (odd >= 3; default 2^a_bits - 1)")
    parser.add_argument("--w-levels", type=levels_arg("--w-levels"), default=None, metavar="D",
                        help="distinct values of the B-side quantization (default: --levels if given, "
                             "else 2^w_bits - 1)")
    parser.add_argument("--quantizer", choices=LazyChoices("imsim.quantize", "QUANTIZERS"), default=None,
                        metavar="QUANTIZER", help="%(choices)s: paper (IM-Unpack's percentile_quantize_fn: scale 0.5 d / alpha, default) or "
                             "symmetric (alpha -> (d-1)/2)")
    if digits:
        parser.add_argument("--digits", choices=LazyChoices("imsim.digits", "DIGITS"), default="signmag",
                            metavar="DIGITS",
                            help="%(choices)s: unpack digit split: signmag (default, never costlier) or floor (the paper's)")
    for action in parser._actions[first:]:  # shared words (imsim.cli.vocabulary.WORDS)
        action.vocabulary = action.option_strings[0]  # type: ignore[attr-defined]


def quant_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """levels / w_levels / quantizer from parsed add_quant_args flags (w_levels defaults to levels)."""
    w_levels = args.w_levels if args.w_levels is not None else args.levels
    return {"levels": args.levels, "w_levels": w_levels, "quantizer": args.quantizer or "paper"}


def rtn_requested(args: argparse.Namespace) -> bool:
    """Whether any RTN flag (--beta, --levels, --w-levels, --quantizer) was given."""
    return any(getattr(args, k, None) is not None for k in ("beta", "levels", "w_levels", "quantizer"))
