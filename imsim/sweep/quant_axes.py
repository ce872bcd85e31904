"""The quantization and digit axes of a sweep spec: `levels`, `w_levels` (distinct values d of
each operand's RTN quantization, odd >= 3), `quantizer` (paper | symmetric) and `digits`
(signmag | floor). Same names as the CLI flags (imsim.cli.common.add_quant_args) and the
result columns. `levels` / `w_levels` left out (null) resolve per point to 2^a_bits - 1 and
(levels if given, else 2^w_bits - 1), so a point's columns always hold the d actually used.
"""
from __future__ import annotations

from typing import Any, Optional

from imsim.digits import DIGITS
from imsim.errors import bad_value
from imsim.quantize import MAX_LEVELS, MIN_LEVELS, QUANTIZERS, default_levels

QUANT_AXES = ("levels", "w_levels", "quantizer", "digits")
QUANT_DEFAULTS: dict[str, Any] = {"levels": None, "w_levels": None, "quantizer": "paper", "digits": "signmag"}
ALLOWED = {"quantizer": QUANTIZERS, "digits": DIGITS}


def check_quant_value(key: str, value: Any, source: str, where: str) -> Any:
    """Validate one value of a quantization axis (None = the default for levels / w_levels)."""
    if key in ("levels", "w_levels"):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not MIN_LEVELS <= value <= MAX_LEVELS \
                or value % 2 == 0:
            raise bad_value(source, where, value, f"must be an odd integer in {MIN_LEVELS}..{MAX_LEVELS} "
                                                  f"(or null: 2^bits - 1)")
        return int(value)
    if value not in ALLOWED[key]:
        raise bad_value(source, where, value, f"must be one of {', '.join(ALLOWED[key])}")
    return value


def resolve_levels(levels: Optional[int], w_levels: Optional[int], a_bits: int, w_bits: int) -> tuple[int, int]:
    """(levels, w_levels) actually used by a point."""
    a = default_levels(a_bits) if levels is None else levels
    w = w_levels if w_levels is not None else (levels if levels is not None else default_levels(w_bits))
    return a, w


def rtn_is_default(levels: Optional[int], w_levels: Optional[int], quantizer: str, a_bits: int, w_bits: int) -> bool:
    """Whether a point's RTN settings are the defaults (what a format point must keep)."""
    a, w = resolve_levels(levels, w_levels, a_bits, w_bits)
    return quantizer == QUANT_DEFAULTS["quantizer"] and (a, w) == (default_levels(a_bits), default_levels(w_bits))
