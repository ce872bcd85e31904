"""Helpers shared by the CLI commands: JSON output, bit-width arguments, tables."""
from __future__ import annotations

import json
import sys
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
