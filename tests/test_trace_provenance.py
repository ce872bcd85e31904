"""Provenance: real (captured), synthetic (--gemm, synthetic traces) or shape-only (imported) in every
result row and in the text header of `imsim run`."""
from __future__ import annotations

import json

import pytest

from imsim.cli import main
from imsim.hwconfig import load_hw_config
from imsim.simulate import simulate_trace
from imsim.trace import bundled_trace_path, open_trace, synthetic_trace
from imsim.trace.provenance import describe, of_meta
from imsim.trace.shapes import Layer, shapes_trace


def test_of_meta():
    assert of_meta({"provenance": "shape-only"}) == "shape-only"
    assert of_meta({}) == "real"
    assert of_meta({"heavy_fraction": 0.01, "seed": 0}) == "synthetic"  # a synthetic trace of an older imsim


@pytest.mark.parametrize("trace,want", [
    (lambda: open_trace(bundled_trace_path())[:2], "real"),
    (lambda: synthetic_trace([(4, 6, 5)]), "synthetic"),
    (lambda: shapes_trace([Layer("l", 4, 6, 5)], heavy=0.02, seed=3), "shape-only"),
])
def test_simulate_trace_fills_provenance(trace, want):
    hw = load_hw_config("default", ["rows=8", "cols=8"])
    results = simulate_trace(hw, trace(), energy=False)
    assert {r.provenance for r in results} == {want} and results[0].to_dict()["provenance"] == want


@pytest.mark.parametrize("argv,want", [
    (["--gemm", "16,16,16", "--heavy", "0.01", "--seed", "4"], "synthetic (random operands: heavy 0.01, seed 4)"),
    (["--trace", "bundled"], "real (captured from a model)"),
])
def test_run_header_and_rows_state_provenance(argv, want, capsys):
    assert main(["run", "--hw", "default", "--set", "rows=8", "--set", "cols=8", *argv, "--no-exact"]) == 0
    header = capsys.readouterr().out.splitlines()[1]
    assert header.startswith("values: " + want)
    assert main(["run", "--hw", "default", "--set", "rows=8", "--set", "cols=8", *argv, "--no-exact", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["gemms"]
    assert {r["provenance"] for r in rows} == {want.split()[0]}


def test_mixed_description_counts():
    text = describe([{"provenance": "real"}, {"provenance": "shape-only", "heavy_fraction": 0.01, "seed": 0}])
    assert text.startswith("1 GEMMs real") and "1 GEMMs shape-only" in text
