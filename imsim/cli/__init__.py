"""The `imsim` command line. Each sub-command lives in its own module in this package and
exposes `register(subparsers)`, which adds its parser and sets `func(args) -> int`.

Exit status: 0 success, 2 user error (one line on stderr), 1 internal error (one line and a
hint; `--debug` prints the traceback). Disk and permission faults (OSError) are user errors
naming the path. Global flags (`--debug`, `--max-memory`) are accepted before or after the
sub-command.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from imsim import __version__
from imsim.errors import UserError, os_error

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
    _add_global_flags(parser, None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"imsim.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"imsim.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    for child in _subparsers(parser):
        _add_global_flags(child, argparse.SUPPRESS)
    return parser


def _max_memory(text: str) -> float:
    from imsim.limits import parse_gib

    return parse_gib(text, "--max-memory")


def _add_global_flags(parser: argparse.ArgumentParser, default: object) -> None:
    """--debug and --max-memory; sub-command copies default to SUPPRESS so they never undo
    a value given before the sub-command."""
    parser.add_argument("--debug", action="store_true", default=default if default is not None else False,
                        help="on an error, print the Python traceback")
    parser.add_argument("--max-memory", type=_max_memory, metavar="GIB", default=default,
                        help="memory one GEMM or array may take before imsim refuses it "
                             "(default: min(8, half the RAM) GiB; see docs/user-guide.md)")


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every sub-command parser below `parser` (recursively)."""
    out = []
    for action in parser._actions:  # noqa: SLF001 (argparse has no public accessor)
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for child in dict.fromkeys(action.choices.values()):
                out += [child, *_subparsers(child)]
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `imsim` console script (see the module doc for the exit status)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv  # known even when parsing fails
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "max_memory", None):
            from imsim.limits import set_memory_limit

            set_memory_limit(args.max_memory)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except UserError as exc:
        return _fail(f"imsim: error: {exc}", 2, debug)
    except KeyboardInterrupt:
        print("imsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # disk full, read-only, permission denied, ...: the environment, not a bug
        path = exc.filename if exc.filename is not None else "imsim"
        return _fail(f"imsim: error: {os_error(path, exc)}", 2, debug)
    except Exception as exc:  # noqa: BLE001 (the last line of defence: one line, exit 1)
        text = " ".join(str(exc)[:10_000].split())
        text = text if len(text) <= 300 else text[:297] + "..."
        return _fail(f"imsim: internal error: {type(exc).__name__}: {text} "
                     f"(re-run with --debug for the traceback, and please report it)", 1, debug)


def _fail(line: str, status: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(line, file=sys.stderr)
    return status
