"""Lean start: importing imsim or building the CLI parser loads none of the heavy libraries
(each is imported where it is used). Checked in a fresh interpreter, since this test process
has long imported them."""
from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "matplotlib", "simpy", "pyarrow", "dask", "distributed", "torch", "scipy")


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    return [m for m in out.strip().split(",") if m]


def test_import_imsim_is_lean():
    assert _loaded_after("import imsim") == []


def test_building_the_parser_is_lean():
    assert _loaded_after("from imsim.cli import build_parser\nbuild_parser()") == []


def test_the_probe_sees_a_heavy_import():
    # the check can fail: a module that does import simpy is reported
    assert _loaded_after("import imsim.memory") == ["simpy"]
