"""experiments/worked_example_energy.py (the worked example of docs/model-energy-area.md) on a
reduced GEMM: every run exact, the equal-area int4 design no larger than the int8 one."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("worked_example_energy",
                                                  ROOT / "experiments" / "worked_example_energy.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_worked_example_reduced_gemm():
    we = _script()
    rng = np.random.default_rng(0)
    # heavy-tailed floats so the 4-bit beta-0.99 scenario has heavy hitters to unpack
    A = rng.standard_t(3, size=(40, 48))
    B = rng.standard_t(3, size=(48, 36))
    designs = we.build_designs("hw_configs/default.yaml", 32)
    assert [(d.hw.a_bits, d.hw.rows, d.hw.cols) for d in designs[:2]] == [(8, 32, 32), (4, 32, 32)]
    results = we.run_scenarios(A, B, "reduced", designs)
    assert set(results) == {"same", "imunpack"}
    for rows in results.values():
        assert len(rows) == 3
        assert all(r.result["exact"] is True for r in rows)
        int8, int4, eq = (r.result for r in rows)
        assert eq["area_um2"] <= int8["area_um2"]
        assert int4["area_um2"] < int8["area_um2"]
        assert int8["strategy"] == "none" and int4["strategy"].startswith("auto")
        assert all(r.gmacs_per_mm2 > 0 for r in rows)
    # scenario 1 runs the identical integer GEMM everywhere: same useful MACs and float error
    same = results["same"]
    assert len({r.rel_err_vs_float for r in same}) == 1
    assert len({r.result["useful_macs"] for r in same}) == 1
    text = we.format_tables(results)
    assert text.count("| True |") == 6 and "False" not in text
