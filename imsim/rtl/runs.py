"""Run the reference design (array, then recombination unit) on an export folder.

    run_array(DIR)   tb_imsim + the manifest's array  -> DIR/results.hex, per-job cycles
    run_recomb(DIR)  tb_recomb + recomb.v on DIR/results.hex -> DIR/c_results.hex, cycles
    run_design(DIR)  both, and DIR/cycles.json
Cycle counts follow imsim.rtl.cycles (the manifest's timing decides the counting rule).
"""
from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from imsim.rtl import cycles
from imsim.rtl.export import ARRAY_SOURCES, RECOMB_SOURCE, RECOMB_TB_SOURCE, TB_SOURCE
from imsim.rtl.simulator import build, run

_JOB = re.compile(r"IMSIM_JOB job=(\d+) first=(\d+) last=(\d+)")
_RECOMB = re.compile(r"IMSIM_RECOMB ops=(\d+) first=(-?\d+) last=(-?\d+)")
CYCLES_FILE = "cycles.json"


@dataclass(frozen=True)
class ArrayRun:
    """The array testbench's outcome: per job (first, last) cycles and the counted cycles."""

    events: tuple[tuple[int, int], ...]
    job_cycles: tuple[int, ...]
    results: Path

    @property
    def cycles(self) -> int:
        return sum(self.job_cycles)


@dataclass(frozen=True)
class RecombRun:
    """The recombination testbench's outcome: shift-and-add ops and busy cycles."""

    ops: int
    cycles: int
    results: Path


def run_array(export_dir: Path, manifest: dict[str, Any], simulator: str = "icarus",
              sources: Sequence[Path] | None = None, timeout_s: float = 600.0) -> ArrayRun:
    """Simulate the array testbench in `export_dir` (writes results.hex)."""
    tb = manifest["testbench"]
    df, timing = manifest["hw"]["dataflow"], manifest["cycles"]["timing"]
    srcs = list(sources) if sources is not None else [*ARRAY_SOURCES[df], TB_SOURCE]
    with tempfile.TemporaryDirectory(prefix="imsim-rtl-") as tmp:
        cmd = build(tb["top"], tb["parameters"], srcs, Path(tmp), simulator, timeout_s)
        log = run(cmd, export_dir, "IMSIM_DONE", timeout_s)
    events = tuple((int(m.group(2)), int(m.group(3))) for m in _JOB.finditer(log))
    counts = tuple(cycles.measured_cycles(a, b, timing) for a, b in events)
    return ArrayRun(events=events, job_cycles=counts, results=Path(export_dir) / "results.hex")


def run_recomb(export_dir: Path, manifest: dict[str, Any], simulator: str = "icarus",
               sources: Sequence[Path] | None = None, timeout_s: float = 600.0) -> RecombRun:
    """Simulate the recombination testbench on export_dir/results.hex (writes c_results.hex)."""
    tb = manifest["recomb_testbench"]
    srcs = list(sources) if sources is not None else [RECOMB_SOURCE, RECOMB_TB_SOURCE]
    with tempfile.TemporaryDirectory(prefix="imsim-rtl-") as tmp:
        cmd = build(tb["top"], tb["parameters"], srcs, Path(tmp), simulator, timeout_s)
        log = run(cmd, export_dir, "IMSIM_RECOMB", timeout_s)
    m = _RECOMB.search(log)
    ops, first, last = int(m.group(1)), int(m.group(2)), int(m.group(3))
    busy = last - first + 1 if ops else 0
    return RecombRun(ops=ops, cycles=busy, results=Path(export_dir) / "c_results.hex")


def run_design(export_dir: Path, manifest: dict[str, Any], simulator: str = "icarus",
               array_sources: Sequence[Path] | None = None,
               recomb_sources: Sequence[Path] | None = None) -> tuple[ArrayRun, RecombRun]:
    """Array then recombination unit; writes cycles.json next to the results."""
    arr = run_array(export_dir, manifest, simulator, array_sources)
    rec = run_recomb(export_dir, manifest, simulator, recomb_sources)
    (Path(export_dir) / CYCLES_FILE).write_text(json.dumps(
        {"simulator": simulator, "array": arr.cycles, "array_jobs": list(arr.job_cycles),
         "recomb": rec.cycles, "recomb_ops": rec.ops}, indent=1) + "\n", encoding="utf-8")
    return arr, rec
