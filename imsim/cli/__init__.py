"""The `imsim` command line. Each sub-command lives in its own module in this package and
exposes `register(subparsers)`, which adds its parser and sets `func(args) -> int`.

Exit status: 0 success, 2 user error (one line on stderr), 1 internal error.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from imsim import __version__
from imsim.errors import UserError

# module names under imsim.cli, in the order they appear in --help
COMMANDS = [
    "demo",
    "unpack",
    "run",
    "trace",
    "capture",
    "eval",
    "sweep",
    "plot",
    "rtl",
    "import_scalesim",
    "import_shapes",
]


class _Parser(argparse.ArgumentParser):
    """argparse prints usage + message and exits 2 on bad flags; keep it to one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="imsim", description="Simulate low-bit integer GEMM accelerators running IM-Unpack: "
                                                "exact results, cycles, traffic, energy and area.",
                     epilog="Start with `imsim demo`. Every command that reports figures takes --json. "
                            "Exit status: 0 ok, 2 user error, 1 internal error.")
    parser.add_argument("--version", action="version", version=f"imsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"imsim.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"imsim.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `imsim` console script."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"imsim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("imsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
