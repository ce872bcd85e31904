"""User-facing errors: one line, exit status 2, never a traceback."""
from __future__ import annotations

import reprlib
from contextlib import contextmanager
from typing import Any, Iterator

MAX_SHOWN = 80  # characters of a value shown in a message
MAX_MESSAGE = 1000  # characters of a whole message

_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxstring = _repr.maxother = _repr.maxlong = MAX_SHOWN
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 8


def shown(value: Any, limit: int = MAX_SHOWN) -> str:
    """`repr(value)` for a message, bounded in time and length: deep or long containers,
    strings and numbers are cut with '...' (a hostile value never floods the terminal)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<{value.bit_length()}-bit integer>"
    try:
        text = _repr.repr(value)
    except Exception:  # noqa: BLE001 (a broken __repr__ must not hide the real error)
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


class UserError(Exception):
    """A mistake in the user's input (file, flag, config value). The CLI prints it as one line, exit 2."""

    def __init__(self, message: str) -> None:
        text = " ".join(str(message).split())  # always one line
        if len(text) > MAX_MESSAGE:
            text = text[:MAX_MESSAGE - 3] + "..."
        super().__init__(text)


def bad_value(source: str | None, field: str, value: Any, allowed: str) -> UserError:
    """Build the standard message: '<source>: <field> = <value>: <what is allowed>'.

    `source` names the file (or 'command line', or None when there is no file). The value is
    shown with `shown` (cut when long).
    """
    where = f"{source}: " if source else ""
    return UserError(f"{where}{field} = {shown(value)}: {allowed}")


def os_error(path: Any, exc: OSError, doing: str = "") -> UserError:
    """A disk / permission fault as a user error naming the path: '<path>: cannot <doing>: <reason>'."""
    reason = exc.strerror or type(exc).__name__
    return UserError(f"{path}: {'cannot ' + doing + ': ' if doing else ''}{reason}")


@contextmanager
def about(source: str) -> Iterator[None]:
    """Prefix UserErrors raised inside with '<source>: ' (unless they already start with it), so
    an error found deep in the pipeline still names the file or record it came from."""
    try:
        yield
    except UserError as exc:
        text = str(exc)
        if text.startswith(source):
            raise
        head = source.split(": ", 1)[0]  # the file, when `source` is '<file>: record 3 (name)'
        if text.startswith(f"{head}: "):
            text = text[len(head) + 2:]  # name the file once
        raise type(exc)(f"{source}: {text}") from None


class AccumulatorOverflow(UserError):
    """An accumulator overflowed under the `error` overflow policy."""
