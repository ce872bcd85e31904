"""Runner: inline, local pool and Dask give the same tables; grouping; resume; a dying worker."""
from __future__ import annotations

import os

import pandas as pd
import pytest

from imsim.sweep.runner import make_tasks, run_sweep
from imsim.sweep.spec import parse_spec


def fake_evaluator(points):
    """A cheap deterministic stand-in for the imsim pipeline (picklable: module level)."""
    out = []
    for p in points:
        rows = []
        for i in range(3):
            macs = (i + 1) * 64 * p.hw.a_bits
            rows.append({"name": f"gemm{i}", "kind": "linear" if i else "attn_qk", "macs": macs,
                         "useful_macs": (i + 1) * 64 * 4, "cycles": macs // p.hw.rows + i,
                         "energy_pj": macs * 0.1 * p.beta, "area_um2": float(p.hw.rows * p.hw.cols),
                         "exact": True, "pid": 0})
        out.append((p.hash, rows))
    return out


def dying_evaluator(points):
    """Kills its worker process once (marker file), then behaves like fake_evaluator."""
    marker = os.environ["IMSIM_TEST_DIE_MARKER"]
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(9)
    return fake_evaluator(points)


SPEC = {"name": "fake", "axes": {"rows": [4, 8, 16], "cols": [4, 8, 16], "a_bits": [4, 8],
                                 "strategy": ["row", "both"], "beta": [1.0, 0.99]},
        "zip": [["rows", "cols"]]}


def _spec():
    return parse_spec(SPEC, source="fake.yaml")


def test_make_tasks_groups_by_work_key():
    spec = _spec()
    assert len(spec.points) == 24
    tasks = make_tasks(spec.points, workers=1)
    assert sorted(p.index for t in tasks for p in t) == list(range(24))
    for task in tasks:
        assert len({p.group_key() for p in task}) == 1
    # 8 work keys (a_bits x strategy x beta), 3 hardware points each: one task per key here
    assert len(tasks) == 8
    many = make_tasks(spec.points, workers=8)
    assert all(len(t) == 1 for t in many)


def test_inline_pool_and_resume_give_same_table(tmp_path):
    spec = _spec()
    _, ref = run_sweep(spec, tmp_path / "inline", workers=0, progress=False, evaluator=fake_evaluator)
    assert len(ref.results) == 24 * 3 and len(ref.totals) == 24
    report, pool = run_sweep(spec, tmp_path / "pool", workers=2, progress=False, evaluator=fake_evaluator)
    assert report.points_computed == 24 and report.backend == "pool:2"
    pd.testing.assert_frame_equal(ref.results, pool.results)
    pd.testing.assert_frame_equal(ref.totals, pool.totals)
    # drop some committed points (as if killed before they finished): only those are recomputed
    parts = sorted((tmp_path / "pool" / "parts").glob("*.json"))
    for f in parts[::5]:
        f.unlink()
    report, again = run_sweep(spec, tmp_path / "pool", workers=2, progress=False, evaluator=fake_evaluator)
    assert report.points_computed == len(parts[::5]) and report.points_already_done == 24 - len(parts[::5])
    pd.testing.assert_frame_equal(ref.results, again.results)
    report, _ = run_sweep(spec, tmp_path / "pool", workers=2, progress=False, evaluator=fake_evaluator)
    assert report.points_computed == 0


def test_pool_survives_a_dying_worker(tmp_path, monkeypatch):
    monkeypatch.setenv("IMSIM_TEST_DIE_MARKER", str(tmp_path / "died"))
    spec = _spec()
    _, ref = run_sweep(spec, tmp_path / "ref", workers=0, progress=False, evaluator=fake_evaluator)
    _, tables = run_sweep(spec, tmp_path / "out", workers=2, progress=False, evaluator=dying_evaluator)
    assert (tmp_path / "died").exists()
    pd.testing.assert_frame_equal(ref.results, tables.results)


def test_dask_local_cluster_matches_pool(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = _spec()
    _, ref = run_sweep(spec, tmp_path / "pool", workers=2, progress=False, evaluator=fake_evaluator)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        report, tables = run_sweep(spec, tmp_path / "dask", scheduler=cluster.scheduler_address,
                                   progress=False, evaluator=fake_evaluator)
    assert report.backend.startswith("dask:tcp://127.0.0.1")
    pd.testing.assert_frame_equal(ref.results, tables.results)
    pd.testing.assert_frame_equal(ref.totals, tables.totals)


def test_bad_scheduler_is_a_user_error(tmp_path):
    pytest.importorskip("distributed")
    from imsim.errors import UserError

    with pytest.raises(UserError, match="cannot connect"):
        run_sweep(_spec(), tmp_path / "x", scheduler="tcp://127.0.0.1:9", progress=False,
                  evaluator=fake_evaluator)
