"""Growing sweeps: a spec that only adds points re-runs into the same folder and computes only
the new points; any other change is refused naming what changed; SIGKILL-safe."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from imsim.errors import UserError
from imsim.sweep import load_spec
from imsim.sweep.grow import describe_changes, is_growth
from imsim.sweep.parts import committed
from imsim.sweep.runner import run_sweep
from imsim.sweep.spec import parse_spec
from imsim.sweep.store import MANIFEST, ResultStore

from test_sweep_runner import fake_evaluator

BASE = {"name": "g", "base": {"rows": 8, "cols": 8}, "axes": {"a_bits": [4, 8], "strategy": ["row", "both"]}}


def _spec(**axes):
    data = json.loads(json.dumps(BASE))
    data["axes"].update(axes)
    return parse_spec(data, source="g.yaml")


def _run(spec, out, **kw):
    return run_sweep(spec, out, workers=0, progress=False, evaluator=fake_evaluator, **kw)


def test_growth_is_a_superset_of_points():
    small, grown = _spec(), _spec(a_bits=[4, 8, 2])
    assert is_growth([p.hash for p in small.points], [p.hash for p in grown.points])
    assert not is_growth([p.hash for p in grown.points], [p.hash for p in small.points])
    assert not is_growth([], [p.hash for p in grown.points])


@pytest.mark.parametrize("axes", [
    {"a_bits": [4, 8, 2]},                          # an axis gained a value (at the end)
    {"a_bits": [2, 4, 8]},                          # ... or at the front: point indices shift
    {"dataflow": ["os", "ws"]},                     # a new hardware axis holding the base value
    {"timing": ["scalesim", "pipelined"]},          # a new sweep-field axis holding the default
    {"a_bits": [4, 8, 6], "beta": [1.0, 0.99]},      # both at once
    {"quantizer": ["paper", "symmetric"], "digits": ["floor", "signmag"]},  # quantization axes (defaults kept)
    {"levels": [None, 7]},                           # levels: null (2^bits - 1) kept, 7 added
])
def test_grown_spec_computes_only_new_points_and_matches_a_fresh_run(tmp_path, axes, capsys):
    small, grown = _spec(), _spec(**axes)
    out = tmp_path / "out"
    first, _ = _run(small, out)
    assert first.points_computed == len(small.points)
    report, tables = _run(grown, out)
    assert report.points_already_done == len(small.points)
    assert report.points_computed == len(grown.points) - len(small.points) > 0
    assert "grew from" in capsys.readouterr().err
    _, fresh = _run(grown, tmp_path / "fresh")
    pd.testing.assert_frame_equal(tables.results, fresh.results)
    pd.testing.assert_frame_equal(tables.totals, fresh.totals)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["spec_hash"] == grown.hash and manifest["grown_from"] == [small.hash]
    assert manifest["complete"]
    again, _ = _run(grown, out)  # a plain resume of the grown spec
    assert again.points_computed == 0


def test_growing_an_unfinished_folder_computes_its_missing_and_new_points(tmp_path):
    small, grown = _spec(), _spec(a_bits=[4, 8, 2])
    out = tmp_path / "out"
    with ResultStore(out, small) as store:  # an interrupted first run: one point committed
        store.commit(small.points[1], fake_evaluator([small.points[1]])[0][1])
    report, tables = _run(grown, out)
    assert report.points_already_done == 1 and report.points_computed == len(grown.points) - 1
    _, fresh = _run(grown, tmp_path / "fresh")
    pd.testing.assert_frame_equal(tables.results, fresh.results)
    with pytest.raises(UserError, match="axes.a_bits lost 2"):  # the small spec no longer fits the folder
        ResultStore(out, small)


@pytest.mark.parametrize("change, named", [
    ({"base": {"rows": 8, "cols": 8, "sram_a_kib": 128}}, "base.sram_a_kib 64 -> 128"),
    ({"axes": {"a_bits": [4], "strategy": ["row", "both"]}}, "axes.a_bits lost 8"),
    ({"axes": {"a_bits": [4, 8], "strategy": ["row", "both"], "dataflow": ["ws"]}},
     "axes.dataflow added without the value the existing points used ('os')"),
    ({"execute": False}, "execute true -> false"),
    ({"filters": ["a_bits > 4"]}, "filters [] -> "),
])
def test_other_changes_are_refused_naming_what_changed(tmp_path, change, named):
    out = tmp_path / "out"
    _run(_spec(), out)
    data = {**json.loads(json.dumps(BASE)), **change}
    changed = parse_spec(data, source="g.yaml")
    with pytest.raises(UserError, match="different sweep spec") as info:
        ResultStore(out, changed)
    assert named in str(info.value)
    assert "\n" not in str(info.value)


def test_describe_changes_for_a_removed_axis():
    old = _spec(dataflow=["os", "ws"]).normalized
    new = _spec().normalized
    assert describe_changes(old, new) == ["axes.dataflow removed (its points used 'ws'; now 'os')"]
    assert describe_changes(new, _spec(dataflow=["os", "ws"]).normalized) == []


# ------------------------------------------------------------------ the real pipeline, killed

SMALL = """\
name: growme
base: {rows: 8, cols: 8}
axes:
  trace:
    - {path: bundled, name: bundled-attn, phases: [fwd], kinds: [attn_qk, attn_pv], limit: 6}
  rows: [4, 8]
  cols: [4, 8]
  a_bits: [3, 4]
  strategy: [row, col]
zip:
  - [rows, cols]
"""
GROWN = SMALL.replace("a_bits: [3, 4]", "a_bits: [3, 4, 5, 6]").replace(
    "strategy: [row, col]", "strategy: [row, col, both]\n  dataflow: [os, ws]")


def _imsim(*args):
    return [sys.executable, "-m", "imsim", *args]


@pytest.mark.slow
def test_sigkill_during_a_grown_run_then_resume_gives_the_table_of_a_fresh_run(tmp_path):
    small_path, grown_path = tmp_path / "small.yaml", tmp_path / "grown.yaml"
    small_path.write_text(SMALL)
    grown_path.write_text(GROWN)
    small, grown = load_spec(small_path), load_spec(grown_path)
    assert {p.hash for p in small.points} < {p.hash for p in grown.points}
    out = tmp_path / "out"
    parts = out / "parts"
    run_sweep(small, out, workers=0, progress=False)
    assert len(committed(parts)) == len(small.points)

    proc = subprocess.Popen(_imsim("sweep", str(grown_path), "--out", str(out), "--workers", "2", "--no-progress"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    want = len(small.points) + 3
    while proc.poll() is None and time.monotonic() < deadline and len(committed(parts)) < want:
        time.sleep(0.005)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    at_kill = len(committed(parts))
    assert killed and len(small.points) < at_kill < len(grown.points), at_kill

    done = subprocess.run(_imsim("sweep", str(grown_path), "--out", str(out), "--workers", "2", "--json",
                                 "--no-progress"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["points_already_done"] == at_kill
    assert report["points_computed"] == len(grown.points) - at_kill
    _, fresh = run_sweep(grown, tmp_path / "fresh", workers=2, progress=False)
    results = pd.read_parquet(out / "results.parquet")
    assert not results.duplicated(["point_hash", "gemm_index"]).any()
    pd.testing.assert_frame_equal(results, fresh.results)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "totals.parquet"), fresh.totals)
    assert sorted(committed(parts)) == sorted(p.hash for p in grown.points)  # each point once
