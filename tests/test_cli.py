"""The CLI error contract (imsim/cli/__init__.py): exit 2 + one line for user mistakes and disk
faults, exit 1 + one line + a --debug hint for internal errors, --debug prints the traceback."""
from __future__ import annotations

import errno

import pytest

import imsim.cli.unpack as unpack_cli
from imsim.cli import main
from imsim.errors import UserError


def _fail_with(monkeypatch, exc: BaseException) -> None:
    def run(args):
        raise exc
    monkeypatch.setattr(unpack_cli, "run", run)


def _err_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_internal_error_is_one_line_with_a_debug_hint(monkeypatch, capsys):
    _fail_with(monkeypatch, ModuleNotFoundError("No module named 'simpy'"))
    assert main(["unpack", "x.npz", "--bits", "8"]) == 1
    lines = _err_lines(capsys)
    assert len(lines) == 1
    assert lines[0].startswith("imsim: internal error: ModuleNotFoundError: No module named 'simpy' (re-run")
    assert "--debug" in lines[0]


@pytest.mark.parametrize("argv", [["--debug", "unpack", "x.npz"], ["unpack", "x.npz", "--debug"]])
def test_debug_prints_the_traceback_before_the_line(monkeypatch, capsys, argv):
    _fail_with(monkeypatch, ZeroDivisionError("division by zero"))
    assert main(argv) == 1
    lines = _err_lines(capsys)
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1].startswith("imsim: internal error: ZeroDivisionError")


def test_internal_error_message_is_bounded(monkeypatch, capsys):
    _fail_with(monkeypatch, RuntimeError("x" * 100_000 + "\nsecond line"))
    assert main(["unpack", "x.npz"]) == 1
    lines = _err_lines(capsys)
    assert len(lines) == 1 and len(lines[0]) < 500


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_disk_faults_are_user_errors_naming_the_path(monkeypatch, capsys, code):
    _fail_with(monkeypatch, OSError(code, "simulated", "/data/out/table.parquet"))
    assert main(["unpack", "x.npz"]) == 2
    assert _err_lines(capsys) == ["imsim: error: /data/out/table.parquet: simulated"]


def test_user_error_is_exit_2_one_line(monkeypatch, capsys):
    _fail_with(monkeypatch, UserError("cfg.yaml: rows = 0:\nan integer in 1..4096"))
    assert main(["unpack", "x.npz"]) == 2
    assert _err_lines(capsys) == ["imsim: error: cfg.yaml: rows = 0: an integer in 1..4096"]


def test_interrupt_is_130(monkeypatch, capsys):
    _fail_with(monkeypatch, KeyboardInterrupt())
    assert main(["unpack", "x.npz"]) == 130
    assert _err_lines(capsys) == ["imsim: interrupted"]


def test_bad_flags_are_one_line(capsys):
    assert main(["unpack", "x.npz", "--no-such-flag"]) == 2
    lines = _err_lines(capsys)
    assert len(lines) == 1 and "--no-such-flag" in lines[0]
    assert main(["no-such-command"]) == 2
    assert len(_err_lines(capsys)) == 1
    assert main(["--max-memory", "lots", "unpack", "x.npz"]) == 2
    assert "--max-memory = 'lots'" in _err_lines(capsys)[0]
