"""`$readmemh` / `$writememh` text files of fixed-width integers (strict reading).

Writing: one element per line, two's complement masked to the element width W (bits),
zero-padded to ceil(W/4) lower-case hex digits, in the order given (row-major for matrices).

Reading accepts what Verilog tools write and what `$readmemh` accepts: `//` line comments,
`/* */` block comments (may span lines), `@addr` lines (hex address of the next value),
upper or lower case, underscores inside numbers, any whitespace. It rejects, with one line
naming the file and line: x/z (unknown) digits, anything that is not a hex number, values
wider than W bits, an address written twice, and (when a count is given) a wrong number of
values or a gap in the addresses.
"""
from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from imsim.errors import UserError, shown

_HEX = set(string.hexdigits) | {"_"}
_UNKNOWN = set("xXzZ?")


def hex_digits(width: int) -> int:
    """Hex digits per element for a width in bits: ceil(width / 4)."""
    if width < 1:
        raise ValueError(f"width must be >= 1 bit, got {width}")
    return (width + 3) // 4


def value_range(width: int, signed: bool) -> tuple[int, int]:
    """Inclusive (lo, hi) of a `width`-bit two's complement (signed) or unsigned integer."""
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def format_hex(values: Iterable[int], width: int, signed: bool = True) -> str:
    """The `$readmemh` text of `values` (flattened in iteration order), one per line.

    Raises ValueError for a value outside the `width`-bit range (a bug of the caller).
    """
    digits = hex_digits(width)
    mask = (1 << width) - 1
    lo, hi = value_range(width, signed)
    lines = []
    for v in values:
        v = int(v)
        if not lo <= v <= hi:
            kind = "signed" if signed else "unsigned"
            raise ValueError(f"value {v} does not fit {width}-bit {kind} ({lo}..{hi})")
        lines.append(format(v & mask, f"0{digits}x"))
    return "\n".join(lines) + ("\n" if lines else "")


def write_hex(path: str | Path, values: np.ndarray | Iterable[int], width: int, signed: bool = True) -> None:
    """Write `values` (a matrix is flattened row-major) as a `$readmemh` file."""
    flat = np.asarray(values).ravel(order="C") if isinstance(values, np.ndarray) else values
    Path(path).write_text(format_hex(flat, width, signed), encoding="ascii")


# one token: a // comment, a /* */ comment, an unterminated /*, or a run of anything else that
# is neither whitespace nor the start of a comment; matched left to right in one linear pass
_TOKEN = re.compile(r"//[^\n]*|/\*.*?\*/|/\*|(?:[^\s/]|/(?![/*]))+", re.S)


def _tokens(text: str, source: str) -> Iterator[tuple[int, str]]:
    """(line number, token) pairs with comments removed; UserError for an unterminated /*.
    Linear in the text (one regex pass; line numbers counted between consecutive tokens)."""
    line, pos = 1, 0
    for m in _TOKEN.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        tok = m.group()
        if tok.startswith("//"):
            continue
        if tok.startswith("/*"):
            if tok == "/*":
                raise UserError(f"{source}:{line}: unterminated /* comment")
            continue
        yield line, tok


def _parse_number(token: str, source: str, line: int, what: str, bits: int) -> int:
    """The value of a hex token of at most `bits` bits (UserError naming the file and line)."""
    shown_tok = shown(token, 40)
    if any(c in _UNKNOWN for c in token):
        hint = " (or a 0x prefix, which $readmemh does not take)" if token[:2] in ("0x", "0X") else ""
        raise UserError(f"{source}:{line}: {what} {shown_tok} has x/z (unknown) digits{hint}; "
                        f"the RTL left it undriven or uninitialised")
    digits = token.replace("_", "")
    if not digits or not set(token) <= _HEX or token.startswith("_"):
        raise UserError(f"{source}:{line}: {what} {shown_tok} is not a hex number")
    digits = digits.lstrip("0") or "0"
    value = int(digits, 16) if len(digits) <= hex_digits(bits) else 1 << bits  # never parse a huge token
    if value >= 1 << bits:
        raise UserError(f"{source}:{line}: {what} {shown_tok} has more than {bits} bits"
                        f"{' (the expected element width)' if what == 'value' else ''}")
    return value


_PLAIN = re.compile(r"[0-9a-fA-F\s]*")
_LINE_COMMENT = re.compile(r"//[^\n]*")


def _parse_plain(text: str, width: int, signed: bool, count: int | None, source: str) -> np.ndarray | None:
    """The common case in bulk: only hex numbers and whitespace, one value per address. None
    for anything else (comments, addresses, x/z, widths above 62 bits): `parse_hex` then reads
    token by token. Errors name the file (and the line of the first too-wide value)."""
    if width > 62 or not _PLAIN.fullmatch(text):
        return None
    tokens = text.split()
    if count is not None and len(tokens) != count:
        raise UserError(f"{source}: holds {len(tokens)} values, expected {count}")
    digits, limit = hex_digits(width), 1 << width
    # a token longer than the width (beyond leading zeros) is never parsed: it counts as too wide
    values = np.array([int(t, 16) if len(t) <= digits or len(t.lstrip("0")) <= digits else limit
                       for t in tokens], dtype=np.int64)
    wide = np.flatnonzero(values >= limit)
    if wide.size:
        first = int(wide[0])
        raise UserError(f"{source}:{_line_of_token(text, first)}: value {shown(tokens[first], 40)} has more "
                        f"than {width} bits (the expected element width)")
    if signed:
        values = np.where(values >= limit >> 1, values - limit, values)
    return values


def _line_of_token(text: str, index: int) -> int:
    """Line number of the index-th whitespace-separated token (one linear pass)."""
    for i, m in enumerate(re.finditer(r"\S+", text)):
        if i == index:
            return text.count("\n", 0, m.start()) + 1
    return text.count("\n") + 1


def parse_hex(text: str, width: int, signed: bool = True, count: int | None = None,
              source: str = "<text>") -> np.ndarray:
    """Values of a `$readmemh` text, sign-interpreted at `width` bits when `signed`.

    Returns int64 (width <= 64) or object (Python int) array in address order. With `count`,
    exactly addresses 0..count-1 must be written. Errors: UserError, one line, naming `source`.
    """
    fast = _parse_plain(text, width, signed, count, source)
    if fast is None and "/*" not in text and "@" not in text and "//" in text:
        # `//` comments (what $writememh writes) removed up to the end of their line, which keeps
        # line numbers: the bulk path then reads the rest
        fast = _parse_plain(_LINE_COMMENT.sub("", text), width, signed, count, source)
    if fast is not None:
        return fast
    limit = 1 << width
    values: dict[int, int] = {}
    addr = 0
    for line, token in _tokens(text, source):
        if token.startswith("@"):
            addr = _parse_number(token[1:], source, line, "address", 64)
            continue
        value = _parse_number(token, source, line, "value", width)
        if addr in values:
            raise UserError(f"{source}:{line}: address {addr:#x} written twice")
        values[addr] = value
        addr += 1
    if count is not None:
        if len(values) != count:
            raise UserError(f"{source}: holds {len(values)} values, expected {count}")
        outside = [a for a in values if a >= count]
        if outside:
            missing = min(set(range(count)) - set(values))
            raise UserError(f"{source}: address {min(outside):#x} is past the end "
                            f"({count} values expected) and address {missing:#x} was never written")
    n = max(values) + 1 if values else 0
    if len(values) != n:
        missing = min(set(range(n)) - set(values))
        raise UserError(f"{source}: address {missing:#x} was never written")
    ordered = [values[a] for a in range(n)]
    if signed:
        half = 1 << (width - 1)
        ordered = [v - limit if v >= half else v for v in ordered]
    dtype = np.int64 if width <= (64 if signed else 63) else object
    return np.array(ordered, dtype=dtype)


def read_hex(path: str | Path, width: int, signed: bool = True, count: int | None = None) -> np.ndarray:
    """Read a `$readmemh` file (see parse_hex); UserError if it cannot be read."""
    source = str(path)
    try:
        from imsim.limits import check_memory

        check_memory(8 * Path(path).stat().st_size, f"{source}: reading a hex file of {Path(path).stat().st_size} bytes")
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a text file"
        raise UserError(f"{source}: cannot read: {reason}") from None
    return parse_hex(text, width, signed=signed, count=count, source=source)
