"""Digit splits for IM-Unpack: an integer x written in base s = 2^sbits (sbits = b - 1) as
x = sum_l d_l s^l with every |d_l| <= s - 1 (the b-bit range).

- `signmag` (imsim's default): truncating digits with the sign of x,
  d_l = sign(x) ((|x| >> l sbits) & (s-1)); small entries of either sign have zero high digits.
- `floor` (the paper's code: `x % s`, `x // s`): the low digits are non-negative,
  d_l = (x >> l sbits) & (s-1) for l below the top level, the top level holds the rest
  x >> l sbits (arithmetic shift = floor division), which may be negative (-1s spread upward).

Both are exact. An entry never needs more signmag levels than floor levels
(|trunc(x / s^l)| <= |floor(x / s^l)|), so signmag is never costlier for row/col unpacking.
Splitting an in-range entry keeps it (and its high part) in range under both digit kinds.
"""
from __future__ import annotations

import numpy as np

from imsim.errors import bad_value

DIGITS = ("signmag", "floor")


def check_digits(digits: object, field: str = "digits", source: str | None = None) -> str:
    """Validate a digit kind ('signmag' or 'floor')."""
    if digits not in DIGITS:
        raise bad_value(source, field, digits, f"must be one of {', '.join(DIGITS)}")
    return str(digits)


def entry_levels(x: np.ndarray, sbits: int, digits: str) -> np.ndarray:
    """Digit levels (>= 1) each int64 entry needs: 1 + the number of `split`s until the high
    part left lies in +-(2^sbits - 1) (an in-range part stays in range when split again)."""
    lim = (1 << sbits) - 1
    levels = np.ones(np.shape(x), dtype=np.int64)
    # the remaining part: floor's high is x >> sbits; signmag's has magnitude |x| >> sbits, so
    # its magnitude alone is followed
    floor = digits == "floor"
    cur = np.array(x, dtype=np.int64) if floor else np.abs(np.asarray(x, dtype=np.int64))
    over = (np.abs(cur) if floor else cur) > lim
    while over.any():
        levels += over
        cur >>= sbits
        over = (np.abs(cur) if floor else cur) > lim
    return levels


def split(x: np.ndarray, sbits: int, digits: str) -> tuple[np.ndarray, np.ndarray]:
    """One split of int64 entries: (low, high) with x = low + high * 2^sbits, low in range."""
    mask = (1 << sbits) - 1
    if digits == "floor":
        return x & mask, x >> sbits
    a = np.abs(x)
    neg = x < 0
    return np.where(neg, -(a & mask), a & mask), np.where(neg, -(a >> sbits), a >> sbits)


def digit(x: np.ndarray, level: int, top: np.ndarray | bool, sbits: int, digits: str) -> np.ndarray:
    """Digit `level` of int64 entries x. `top` (bool, broadcastable): this level is the entry's
    line's last one (floor digits keep the whole rest there; signmag digits ignore it)."""
    mask = (1 << sbits) - 1
    if digits == "floor":
        rest = x >> (level * sbits)
        return np.where(top, rest, rest & mask)
    a = np.abs(x)  # a fresh array: shifted (levels above 0) and masked in place
    if level:
        a >>= level * sbits
    a &= mask
    return np.where(x < 0, -a, a)
