"""Run the reference testbench (tb_systolic_os.v) on an export folder with Icarus Verilog.

    iverilog -g2005 -s tb_systolic_os -P tb_systolic_os.ROWS=.. (one -P per manifest
             testbench parameter) -o tb.vvp systolic_os.v tb_systolic_os.v
    cd EXPORT_DIR && vvp -n tb.vvp      -> results.hex, IMSIM_TILE / IMSIM_CYCLES lines
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from imsim.errors import UserError
from imsim.rtl.export import ARRAY_SOURCE, TB_SOURCE

TB_TOP = "tb_systolic_os"
_TILE = re.compile(r"IMSIM_TILE pass=(\d+) tile_row=(\d+) tile_col=(\d+) cycles=(\d+)")
_TOTAL = re.compile(r"IMSIM_CYCLES total=(\d+) tiles=(\d+)")


@dataclass(frozen=True)
class TbRun:
    """Outcome of one testbench run: cycles (total and per tile, in tile-loop order)."""

    total_cycles: int
    tiles: int
    tile_cycles: tuple[int, ...]
    results: Path
    log: str


def icarus_missing() -> str | None:
    """None when iverilog and vvp are on PATH, else the reason they cannot be used."""
    missing = [tool for tool in ("iverilog", "vvp") if shutil.which(tool) is None]
    if missing:
        return (f"{' and '.join(missing)} not found on PATH: install Icarus Verilog "
                f"(e.g. apt-get install -y iverilog)")
    return None


def iverilog_command(parameters: dict[str, Any], out: Path,
                     sources: Sequence[Path] = (ARRAY_SOURCE, TB_SOURCE)) -> list[str]:
    """The iverilog command compiling the testbench with the manifest's parameters."""
    cmd = ["iverilog", "-g2005", "-s", TB_TOP, "-o", str(out)]
    cmd += [f"-P{TB_TOP}.{name}={int(value)}" for name, value in parameters.items()]
    return cmd + [str(s) for s in sources]


def _run(cmd: list[str], cwd: Path | None, timeout_s: float) -> subprocess.CompletedProcess:
    reason = icarus_missing()
    if reason:
        raise UserError(reason)
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise UserError(f"{cmd[0]} did not finish within {timeout_s:g} s") from None


def compile_testbench(parameters: dict[str, Any], out: Path,
                      sources: Sequence[Path] = (ARRAY_SOURCE, TB_SOURCE),
                      timeout_s: float = 120.0) -> Path:
    """Compile the testbench to `out` (a vvp file); UserError with iverilog's first error line."""
    proc = _run(iverilog_command(parameters, out, sources), None, timeout_s)
    if proc.returncode != 0:
        first = (proc.stderr or proc.stdout).strip().splitlines()
        raise UserError(f"iverilog failed: {first[0] if first else f'exit {proc.returncode}'}")
    return out


def run_testbench(vvp_file: Path, export_dir: Path, timeout_s: float = 600.0) -> TbRun:
    """Run a compiled testbench in `export_dir`; parse its cycle lines."""
    proc = _run(["vvp", "-n", str(Path(vvp_file).resolve())], Path(export_dir), timeout_s)
    log = proc.stdout + proc.stderr
    total = _TOTAL.search(log)
    if proc.returncode != 0 or total is None:
        tail = log.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise UserError(f"vvp run in {export_dir} did not finish the tile loop: {tail[0]}")
    tiles = tuple(int(m.group(4)) for m in _TILE.finditer(log))
    return TbRun(total_cycles=int(total.group(1)), tiles=int(total.group(2)), tile_cycles=tiles,
                 results=Path(export_dir) / "results.hex", log=log)
