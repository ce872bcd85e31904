"""Runner: inline, local pool and Dask give the same tables; grouping; resume; a dying worker."""
from __future__ import annotations

import os

import pandas as pd
import pytest

from imsim.sweep.dask_backend import DASK_CHUNK_POINTS
from imsim.sweep.parts import committed, hashes, part_files
from imsim.sweep.runner import make_tasks, run_sweep
from imsim.sweep.spec import parse_spec
from imsim.sweep.tasks import MAX_CHUNK_POINTS


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


def profiler_evaluator(points):
    """fake_evaluator, with a column saying whether this Dask worker's profiler was running."""
    from distributed import get_worker

    callbacks = get_worker().periodic_callbacks
    running = any(callbacks[name].is_running() for name in ("profile", "tick"))
    return [(h, [{**row, "profiler_running": running} for row in rows]) for h, rows in fake_evaluator(points)]


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


def test_make_tasks_keeps_a_design_together_across_strategies():
    spec = _spec()
    assert len(spec.points) == 24
    tasks = make_tasks(spec.points, workers=1)
    assert sorted(p.index for t in tasks for p in t) == list(range(24))
    # 4 quantize keys (a_bits x beta), each 3 designs x 2 strategies: one task per quantize key here
    assert len(tasks) == 4
    for task in tasks:
        assert len({p.quantize_key() for p in task}) == 1
        assert {p.strategy for p in task} == {"row", "both"}
    task_of = {p.index: i for i, t in enumerate(tasks) for p in t}
    for p in spec.points:  # the points of one design (hardware config) share a task
        assert all(task_of[q.index] == task_of[p.index] for q in spec.points if q.hw == p.hw and q.beta == p.beta)
    two = make_tasks(spec.points, workers=2)  # 3 points a task at most: one design's 2 points each
    assert len(two) == 12 and all(len({p.hw for p in t}) == 1 and len(t) == 2 for t in two)
    many = make_tasks(spec.points, workers=8)
    assert len(many) == 24 and all(len(t) == 1 for t in many)


def test_make_tasks_caps_a_task_at_max_points():
    spec = parse_spec({"axes": {"rows": list(range(4, 504)), "strategy": ["row", "both"]}}, source="big.yaml")
    assert len(spec.points) == 1000
    for cap in (MAX_CHUNK_POINTS, DASK_CHUNK_POINTS):  # the local pool's cap and the Dask backend's
        tasks = make_tasks(spec.points, workers=2, max_points=cap)
        assert sorted(p.index for t in tasks for p in t) == list(range(1000))
        assert max(len(t) for t in tasks) == cap and len(tasks) == -(-1000 // cap)


def test_make_tasks_splits_by_work_key_beyond_the_unpacking_cache():
    from imsim.sweep.evaluate import PREPARED_CACHE_SIZE

    spec = parse_spec({"axes": {"rows": [4, 8, 16], "strategy": ["none", "row", "col", "both", "auto"],
                                "digits": ["floor", "signmag"]}}, source="keys.yaml")
    assert len({p.group_key() for p in spec.points}) == 10 > PREPARED_CACHE_SIZE
    tasks = make_tasks(spec.points, workers=1)
    assert sorted(p.index for t in tasks for p in t) == list(range(30))
    assert all(len({p.group_key() for p in t}) == 1 for t in tasks) and len(tasks) == 10


def test_inline_pool_and_resume_give_same_table(tmp_path):
    spec = _spec()
    _, ref = run_sweep(spec, tmp_path / "inline", workers=0, progress=False, evaluator=fake_evaluator)
    assert len(ref.results) == 24 * 3 and len(ref.totals) == 24
    report, pool = run_sweep(spec, tmp_path / "pool", workers=2, progress=False, evaluator=fake_evaluator)
    assert report.points_computed == 24 and report.backend == "pool:2"
    pd.testing.assert_frame_equal(ref.results, pool.results)
    pd.testing.assert_frame_equal(ref.totals, pool.totals)
    # drop some committed tasks (as if killed before they finished): only their points are recomputed
    files = sorted((tmp_path / "pool" / "parts").glob("*.jsonl"))
    assert len(files) == report.tasks == 12  # one part file per task
    dropped = [h for f in files[::3] for h in hashes(f)]
    for f in files[::3]:
        f.unlink()
    assert len(dropped) == 8
    report, again = run_sweep(spec, tmp_path / "pool", workers=2, progress=False, evaluator=fake_evaluator)
    assert report.points_computed == len(dropped) and report.points_already_done == 24 - len(dropped)
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


def test_dask_local_cluster_matches_pool(tmp_path, monkeypatch):
    """The real pipeline on a Dask LocalCluster (2 worker processes, loopback) = the local pool."""
    distributed = pytest.importorskip("distributed")
    spec = parse_spec({"base": {"rows": 8, "cols": 8},
                       "axes": {"trace": {"synthetic": {"shapes": [[24, 40, 16], [16, 24, 32]], "seed": 4,
                                                        "heavy_fraction": 0.03}},
                                "rows": [4, 8], "dataflow": ["os", "ws", "is"], "a_bits": [3, 4],
                                "strategy": ["row", "both"], "beta": 0.99}}, source="dask.yaml")
    assert len(spec.points) == 24
    _, ref = run_sweep(spec, tmp_path / "pool", workers=2, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        report, tables = run_sweep(spec, tmp_path / "dask", scheduler=cluster.scheduler_address,
                                   progress=False)
        # a fake evaluator (this module is importable by the workers through pickling by value)
        _, fake = run_sweep(spec, tmp_path / "dask-fake", scheduler=cluster.scheduler_address,
                            progress=False, evaluator=fake_evaluator)
        # the workers' statistical profiler is paused during a sweep and restarted after it
        with distributed.Client(cluster) as client:
            assert all(client.run(_profiler_running).values())
            _, seen = run_sweep(spec, tmp_path / "dask-profiler", scheduler=cluster.scheduler_address,
                                progress=False, evaluator=profiler_evaluator)
            assert all(client.run(_profiler_running).values())
            # a diagnostic that was off before the sweep stays off after it
            client.run(_stop_tick)
            run_sweep(spec, tmp_path / "dask-tick-off", scheduler=cluster.scheduler_address, progress=False,
                      evaluator=fake_evaluator)
            assert not any(client.run(_running, "tick").values())
            assert all(client.run(_running, "profile").values())
        # a user's client, the process's default (as a notebook's is), stays the default during a
        # sweep, and the sweep tracks its futures on its own client's event loop (on the user's
        # loop every result arrived late: +0.7-1.4 s a sweep)
        user = distributed.Client(cluster)
        tracked = []
        real = distributed.as_completed

        def spy(futures, loop=None, **kw):
            tracked.append((loop or distributed.default_client().loop, {f.client.loop for f in futures},
                            distributed.default_client()))
            return real(futures, loop=loop, **kw)

        try:
            monkeypatch.setattr(distributed, "as_completed", spy)
            run_sweep(spec, tmp_path / "dask-loop", scheduler=cluster.scheduler_address, progress=False,
                      evaluator=fake_evaluator)
        finally:
            monkeypatch.undo()
            user.close()
        assert len(tracked) == 1
        loop, futures_loops, default = tracked[0]
        assert futures_loops == {loop} and loop is not user.loop and default is user
    assert not seen.results["profiler_running"].any()
    assert report.backend.startswith("dask:tcp://127.0.0.1") and report.points_computed == 24
    pd.testing.assert_frame_equal(ref.results, tables.results)
    pd.testing.assert_frame_equal(ref.totals, tables.totals)
    _, fake_ref = run_sweep(spec, tmp_path / "inline-fake", workers=0, progress=False, evaluator=fake_evaluator)
    pd.testing.assert_frame_equal(fake_ref.results, fake.results)


def _stop_tick(dask_worker):
    dask_worker.periodic_callbacks["tick"].stop()


def _running(name, dask_worker=None):
    return dask_worker.periodic_callbacks[name].is_running()


def _profiler_running(dask_worker):
    return all(dask_worker.periodic_callbacks[name].is_running() for name in ("profile", "profile-cycle", "tick"))


def test_bad_scheduler_is_a_user_error(tmp_path):
    pytest.importorskip("distributed")
    from imsim.errors import UserError

    with pytest.raises(UserError, match="cannot connect"):
        run_sweep(_spec(), tmp_path / "x", scheduler="tcp://127.0.0.1:9", progress=False,
                  evaluator=fake_evaluator)


# ------------------------------------------------------------------ the real pipeline, killed


KILL_SPEC = """\
name: killme
base: {rows: 8, cols: 8}
axes:
  trace:
    - {path: bundled, name: bundled-attn, phases: [fwd], kinds: [attn_qk, attn_pv, loss], limit: 15}
  rows: [4, 8, 16]
  cols: [4, 8, 16]
  a_bits: [3, 4, 6]
  w_bits: [3, 4, 6]
  strategy: [row, col, both]
  beta: [0.99, 0.999]
  dataflow: [os, ws]
zip:
  - [rows, cols]
  - [a_bits, w_bits]
"""


# The sweep CLI, SIGKILL-ing itself at a chosen moment (IMSIM_TEST_KILL_AT = where:k):
#   open      once the output folder is opened and locked, before any point is computed
#   commit:k  on its k-th part file of this run, before writing it: exactly k - 1 parts land
#   torn:k    the same, after writing half of that part to its temporary file (a torn write)
#   table:k   at its k-th consolidated table (results/totals, Parquet/CSV), before writing it
# Part writes are serialised (the commit threads otherwise race to the disk), so the number of
# parts each run leaves is exact however loaded the machine is; the pool workers computing the
# points are left running when the sweep process dies, as with a real `kill -9`.
KILLED_SWEEP = """
import os, signal, sys, threading
import imsim.sweep.store as store
from imsim.cli import main

where, _, k = os.environ["IMSIM_TEST_KILL_AT"].partition(":")
k = int(k or 0)
lock, count, tables = threading.Lock(), [0], [0]
real_write, real_open, real_table = store._write_atomic, store.ResultStore._open, store.ResultStore._write_table

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def write(path, data):
    if path.parent.name != "parts":
        return real_write(path, data)
    with lock:
        count[0] += 1
        if where in ("commit", "torn") and count[0] == k:
            if where == "torn":
                with open(path.with_name(f".{path.name}.{os.getpid()}.tmp"), "wb") as fh:
                    fh.write(data[:len(data) // 2])
                    fh.flush()
                    os.fsync(fh.fileno())
            die()
        real_write(path, data)

def opened(self):
    real_open(self)
    if where == "open":
        die()

def table(self, df, name, fmt):
    tables[0] += 1
    if where == "table" and tables[0] == k:
        die()
    return real_table(self, df, name, fmt)

store._write_atomic, store.ResultStore._open, store.ResultStore._write_table = write, opened, table
sys.exit(main(sys.argv[1:]))
"""
# (where, part files added): each run dies at its k-th part file (one file per task of points);
# 108 points make 12 tasks on 2 workers, and every run below still has more than k tasks to do
KILL_PLAN = [("open", 0), ("commit:3", 2), ("torn:2", 1), ("commit:2", 1), ("torn:1", 0)]
HANG_GUARD_S = 900  # a hang guard only: nothing here depends on how fast the machine is


def _imsim(*args):
    import sys

    return [sys.executable, "-m", "imsim", *args]


def _killed_sweep(spec_path, out, where: str) -> int:
    """Run the sweep CLI until it SIGKILLs itself at `where`; its return code."""
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", KILLED_SWEEP, "sweep", str(spec_path), "--out", str(out),
                             "--workers", "2", "--no-progress"], env=dict(os.environ, IMSIM_TEST_KILL_AT=where),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=HANG_GUARD_S)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the orphaned pool workers, if any are left
        except ProcessLookupError:
            pass
    assert proc.returncode == -signal.SIGKILL, (where, proc.returncode, err.decode(errors="replace")[-2000:])
    return proc.returncode


def _parts(parts):
    """{part file name: (inode, mtime ns)}: a part rewritten (os.replace) gets a new inode."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in part_files(parts)} if parts.exists() else {}


@pytest.mark.slow
def test_sigkill_at_chosen_moments_then_resume_gives_the_same_table(tmp_path):
    import json
    import subprocess

    spec_path = tmp_path / "kill.yaml"
    spec_path.write_text(KILL_SPEC)
    from imsim.sweep import load_spec

    spec = load_spec(spec_path)
    n = len(spec.points)
    assert n >= 100
    _, ref = run_sweep(spec, tmp_path / "ref", workers=2, progress=False)

    out = tmp_path / "out"
    parts = out / "parts"
    expected = 0
    for where, added in KILL_PLAN:
        before = _parts(parts)
        _killed_sweep(spec_path, out, where)
        after = _parts(parts)
        expected += added
        assert len(after) == expected, (where, len(after), expected)
        assert {k: after[k] for k in before} == before, where  # finished points kept, not recomputed
        torn = list(parts.glob(".*.tmp"))
        assert len(torn) == (1 if where.startswith("torn") else 0), (where, torn)  # the next run removes it
        assert not (out / "results.parquet").exists()
    kept = len(committed(parts))
    assert 0 < expected and 0 < kept < n
    # the next run computes every missing point, then dies writing the second table
    before = _parts(parts)
    _killed_sweep(spec_path, out, "table:2")
    after = _parts(parts)
    assert len(committed(parts)) == n and {k: after[k] for k in before} == before
    assert not list(parts.glob(".*.tmp"))
    assert json.loads((out / "manifest.json").read_text()).get("complete") is not True

    done = subprocess.run(_imsim("sweep", str(spec_path), "--out", str(out), "--workers", "2", "--json",
                                 "--no-progress"), capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["points_already_done"] == n and report["points_computed"] == 0
    assert _parts(parts) == after
    results = pd.read_parquet(out / "results.parquet")
    totals = pd.read_parquet(out / "totals.parquet")
    assert len(results) == 15 * n and not results.duplicated(["point_hash", "gemm_index"]).any()
    pd.testing.assert_frame_equal(results, ref.results)
    pd.testing.assert_frame_equal(totals, ref.totals)
    assert (results["exact"] == True).all()  # noqa: E712
    assert sorted(committed(parts)) == sorted(p.hash for p in spec.points)  # each point once
    assert not list(parts.glob(".*.tmp")) and not list(out.glob(".*.tmp"))


def _count_calls(monkeypatch, module, name: str) -> list:
    """Replace module.name by a wrapper recording each call's bit-width arguments (args[2:4])."""
    calls: list = []
    real = getattr(module, name)

    def counting(*args, **kwargs):
        calls.append(args[2:4])
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def test_unpacking_is_shared_across_hardware_points(tmp_path, monkeypatch):
    import imsim.unpack
    from imsim.sweep import evaluate

    calls = _count_calls(monkeypatch, imsim.unpack, "unpack_gemm")
    evaluate.clear_caches()
    spec = parse_spec({"base": {"rows": 4, "cols": 4},
                       "axes": {"trace": {"synthetic": {"shapes": [[16, 24, 8], [8, 16, 12]], "seed": 2}},
                                "rows": [4, 8, 16], "dataflow": ["os", "ws"], "a_bits": [3, 5],
                                "beta": 0.99}}, source="share.yaml")
    assert len(spec.points) == 12
    _, tables = run_sweep(spec, tmp_path / "o", workers=0, progress=False)
    assert len(tables.results) == 24 and tables.results["exact"].all()
    # 2 work keys (a_bits 3, 5) x 2 GEMMs, not 12 points x 2 GEMMs
    assert len(calls) == 4


def test_quantization_is_shared_across_strategies(tmp_path, monkeypatch):
    import imsim.quality
    from imsim.sweep import evaluate

    calls = _count_calls(monkeypatch, imsim.quality, "quantize_gemm")
    evaluate.clear_caches()
    spec = parse_spec({"base": {"rows": 4, "cols": 4},
                       "axes": {"trace": {"synthetic": {"shapes": [[16, 24, 8], [8, 16, 12]], "seed": 2}},
                                "strategy": ["row", "col", "both", "auto"], "rows": [4, 8], "a_bits": [3, 5],
                                "beta": 0.99}}, source="share.yaml")
    assert len(spec.points) == 16
    _, tables = run_sweep(spec, tmp_path / "o", workers=0, progress=False)
    assert len(tables.results) == 32 and tables.results["exact"].all()
    # 2 bit widths x 2 GEMMs, not 4 strategies x 2 bit widths x 2 GEMMs
    assert len(calls) == 4


def test_format_sweep_runs_exactly_with_significand_widths(tmp_path):
    from imsim.sweep import evaluate

    evaluate.clear_caches()
    spec = parse_spec({"base": {"rows": 8, "cols": 8, "acc_bits": 48},
                       "axes": {"trace": {"synthetic": {"shapes": [[16, 24, 8], [8, 16, 12]], "seed": 1}},
                                "format": ["e2m1", "e4m3"], "rows": [8, 16]}}, source="fmt.yaml")
    assert len(spec.points) == 4
    _, tables = run_sweep(spec, tmp_path / "o", workers=0, progress=False)
    res, tot = tables.results, tables.totals
    assert len(res) == 8 and len(tot) == 4
    assert list(tot["format_a"]) == ["e2m1", "e2m1", "e4m3", "e4m3"]
    assert list(tot["format_b"]) == list(tot["format_a"])
    assert list(res.loc[res["format_a"] == "e2m1", "a_bits"]) == [3] * 4
    assert list(res.loc[res["format_a"] == "e4m3", "w_bits"]) == [5] * 4
    assert res["exact"].all() and tot["exact"].all()
    assert (tot["unpack_ratio"] >= 1).all()
