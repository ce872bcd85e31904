"""Sweep points carry the quantization columns and the per-GEMM / pooled error columns."""
from __future__ import annotations

from imsim.sweep.evaluate import evaluate_point
from imsim.sweep.spec import parse_spec
from imsim.sweep.store import point_totals

SYN = {"name": "syn", "synthetic": {"shapes": [[6, 16, 5], [1, 12, 7]], "heavy_fraction": 0.02, "seed": 2}}


def test_error_columns_depend_on_quantization_only():
    spec = parse_spec({"axes": {"trace": [SYN], "a_bits": [2, 16], "w_bits": [2, 16], "levels": [7, 31],
                                "beta": 0.99}, "zip": [["a_bits", "w_bits"]]}, source="q.yaml")
    by = {}
    for p in spec.points:
        rows = evaluate_point(p)
        assert all(r["levels"] == p.levels and r["quantizer"] == "paper" for r in rows)
        tot = point_totals(p.fields(), rows)
        assert tot["rel_error"] > 0 and tot["rel_error_max"] >= tot["rel_error_mean"]
        by[(p.hw.a_bits, p.levels)] = [r["rel_error"] for r in rows]
    assert by[(2, 7)] == by[(16, 7)] and by[(2, 31)] == by[(16, 31)]
    assert sum(by[(2, 7)]) > sum(by[(2, 31)])
