"""User-facing errors: one line, exit status 2, never a traceback."""
from __future__ import annotations

from typing import Any


class UserError(Exception):
    """A mistake in the user's input (file, flag, config value). The CLI prints it as one line, exit 2."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # always one line


def bad_value(source: str | None, field: str, value: Any, allowed: str) -> UserError:
    """Build the standard message: '<source>: <field> = <value>: <what is allowed>'.

    `source` names the file (or 'command line', or None when there is no file).
    """
    where = f"{source}: " if source else ""
    return UserError(f"{where}{field} = {value!r}: {allowed}")


class AccumulatorOverflow(UserError):
    """An accumulator overflowed under the `error` overflow policy."""
