"""Results store: atomic per-point commits, resume, refusal of another spec, totals."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from imsim.errors import UserError
from imsim.sweep.spec import parse_spec
from imsim.sweep.store import (MANIFEST, ResultStore, is_additive, load_tables, merge_point_rows, plain_value,
                               point_totals)


def _spec(rows=(4, 8), strategies=("row", "col")):
    return parse_spec({"name": "t", "axes": {"rows": list(rows), "strategy": list(strategies)}}, source="t.yaml")


def _gemm_rows(point):
    """Two fake GEMMs whose figures depend on the point."""
    r = point.hw.rows
    return [{"name": f"g{i}", "kind": "linear", "macs": 100 * (i + 1) * r, "useful_macs": 50 * (i + 1),
             "cycles": 10 * (i + 1) + r, "energy_pj": 1.5 * (i + 1) * r, "area_um2": 1000.0 * r,
             "utilization": 0.25 * (i + 1), "exact": i == 0 or r < 8, "strategy": f"{point.strategy}"}
            for i in range(2)]


def test_commit_resume_and_consolidate(tmp_path):
    spec = _spec()
    out = tmp_path / "out"
    with ResultStore(out, spec) as store:
        assert len(store.pending()) == 4
        store.commit(spec.points[2], _gemm_rows(spec.points[2]))
        store.commit(spec.points[0], _gemm_rows(spec.points[0]))
    # a leftover temporary file from a crash is ignored and cleaned
    (out / "parts" / ".deadbeef.json.123.tmp").write_text("{partial")
    with ResultStore(out, spec) as store:
        assert [p.index for p in store.pending()] == [1, 3]
        assert not list((out / "parts").glob(".*.tmp"))
        with pytest.raises(UserError, match="not finished"):
            store.consolidate()
        for p in store.pending():
            store.commit(p, _gemm_rows(p))
        tables = store.consolidate()
    res = tables.results
    assert len(res) == 8
    assert list(res["point_index"]) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert list(res["gemm_index"]) == [0, 1] * 4
    assert not res.duplicated(["point_hash", "gemm_index"]).any()
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["complete"] and manifest["spec_hash"] == spec.hash
    assert [p["hash"] for p in manifest["points"]] == [p.hash for p in spec.points]
    assert manifest["imsim_version"]
    loaded = load_tables(out)
    pd.testing.assert_frame_equal(loaded.results, res)
    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == 8 and list(csv.columns) == list(res.columns)
    tot = loaded.totals
    assert len(tot) == 4 and list(tot["point_index"]) == [0, 1, 2, 3]


def test_different_spec_is_refused(tmp_path):
    out = tmp_path / "out"
    ResultStore(out, _spec()).close()
    with pytest.raises(UserError, match="different sweep spec"):
        ResultStore(out, _spec(rows=(4, 16)))
    # the same spec (written differently) is accepted
    same = parse_spec({"axes": {"strategy": ["row", "col"], "rows": [4, 8]}}, source="other.yaml")
    assert same.hash != _spec().hash  # axis order changes point order -> another table
    ResultStore(out, _spec()).close()


def test_foreign_folder_and_lock(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("x")
    with pytest.raises(UserError, match="not empty"):
        ResultStore(foreign, _spec())
    out = tmp_path / "out"
    with ResultStore(out, _spec()):
        with pytest.raises(UserError, match="another sweep"):
            ResultStore(out, _spec())


def test_point_totals_sums_and_recomputes():
    rows = [{"macs": 300, "useful_macs": 100, "cycles": 10, "stall_cycles": 2, "energy_pj": 5.0,
             "dram_bytes": 64, "area_um2": 7.0, "utilization": 0.5, "exact": True, "unpack_ratio": 3.0,
             "energy_per_useful_mac_pj": 0.05, "name": "a"},
            {"macs": 100, "useful_macs": 100, "cycles": 30, "stall_cycles": 0, "energy_pj": 3.0,
             "dram_bytes": 32, "area_um2": 7.0, "utilization": 0.1, "exact": False, "unpack_ratio": 1.0,
             "energy_per_useful_mac_pj": 0.03, "name": "b"}]
    t = point_totals({"point_index": 3}, rows)
    assert t["point_index"] == 3 and t["gemms"] == 2
    assert t["macs"] == 400 and t["cycles"] == 40 and t["stall_cycles"] == 2 and t["dram_bytes"] == 96
    assert t["energy_pj"] == pytest.approx(8.0)
    assert t["area_um2"] == 7.0
    assert t["unpack_ratio"] == pytest.approx(2.0)
    assert t["energy_per_useful_mac_pj"] == pytest.approx(8.0 / 200)
    assert t["utilization"] == pytest.approx((0.5 * 10 + 0.1 * 30) / 40)
    assert t["exact"] is False
    assert "name" not in t
    assert is_additive("energy_sram_pj") and not is_additive("energy_per_useful_mac_pj")


def test_merge_keeps_differing_fields_as_used():
    spec = parse_spec({"axes": {"strategy": "auto"}}, source="t.yaml")
    p = spec.points[0]
    merged = merge_point_rows(p, [{"strategy": "auto(row,col)", "a_bits": p.hw.a_bits, "cycles": 1}])
    assert merged[0]["strategy"] == "auto" and merged[0]["strategy_used"] == "auto(row,col)"
    assert "a_bits_used" not in merged[0] and merged[0]["cycles"] == 1


def test_plain_value():
    assert plain_value(np.int64(3)) == 3 and type(plain_value(np.int64(3))) is int
    assert plain_value(np.bool_(True)) is True
    assert plain_value((1, 2)) == "[1, 2]"
    assert plain_value(None) is None


def test_cli_refuses_a_folder_of_another_spec(tmp_path, capsys):
    from imsim.cli import main

    tiny = "axes:\n  trace: {synthetic: {shapes: [[8, 16, 8]], seed: 1}}\n  rows: [4, 8]\n"
    (tmp_path / "a.yaml").write_text(tiny)
    (tmp_path / "b.yaml").write_text(tiny.replace("[4, 8]", "[4, 16]"))
    out = str(tmp_path / "out")
    assert main(["sweep", str(tmp_path / "a.yaml"), "--out", out, "--workers", "0", "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["points_computed"] == 2
    assert main(["sweep", str(tmp_path / "b.yaml"), "--out", out, "--workers", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "different sweep spec" in err
    assert main(["sweep", str(tmp_path / "a.yaml"), "--out", out, "--workers", "0", "--no-progress", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["points_computed"] == 0 and again["points_already_done"] == 2


def test_a_sweep_starting_at_the_same_instant_is_reported_as_running(tmp_path):
    """Another process holds the lock and has written only parts/ and its temporary manifest:
    the second start says another sweep is running (not 'folder is not empty')."""
    import subprocess
    import sys

    out = tmp_path / "out"
    (out / "parts").mkdir(parents=True)
    (out / ".manifest.json.12345.tmp").write_text("{")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; fh = open(sys.argv[1], 'a'); fcntl.lockf(fh, fcntl.LOCK_EX); "
        "print('locked', flush=True); time.sleep(60)"), str(out / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match="another sweep is running in this folder"):
            ResultStore(out, _spec())
    finally:
        holder.kill()
        holder.wait()


def _odd_rows(point):
    """Rows whose values must survive the part file exactly: numpy scalars, NaN, infinities,
    -0.0, floats without a short decimal form, a tuple, None."""
    rows = _gemm_rows(point)
    rows[0].update(rel_error=np.float64(np.nan), peak_bytes=np.int64(2 ** 53 + 1), ratio=float("inf"),
                   tiny=-0.0, third=1 / 3 * point.hw.rows, shape=(3, 4), first_mismatch=None)
    rows[1].update(rel_error=np.float32(0.1), peak_bytes=7, ratio=-float("inf"), tiny=5e-324, third=0.1 + 0.2,
                   shape=(5, 6), first_mismatch="C[0, 1]")
    return rows


def test_a_batch_is_one_part_and_its_rows_equal_those_read_back(tmp_path):
    from imsim.sweep import parts
    from imsim.sweep.store import prepare_batch

    spec = _spec(rows=(4, 8, 16))
    out = tmp_path / "out"
    with ResultStore(out, spec) as store:
        store.commit_batch(prepare_batch([(p, _odd_rows(p)) for p in spec.points[:4]]))
        store.commit_batch(prepare_batch([(p, _odd_rows(p)) for p in spec.points[4:]]))
        assert len(parts.part_files(out / "parts")) == 2 and not store.pending()
        fresh = store.consolidate()  # from the rows that came with the batches
    for name in ("results", "totals"):
        (out / f"{name}.parquet").unlink()
        (out / f"{name}.csv").unlink()
    with ResultStore(out, spec) as store:
        rebuilt = store.consolidate()  # from the part files alone
    pd.testing.assert_frame_equal(fresh.results, rebuilt.results, check_exact=True)
    pd.testing.assert_frame_equal(fresh.totals, rebuilt.totals, check_exact=True)
    row = fresh.results.iloc[0]
    assert np.isnan(row["rel_error"]) and row["ratio"] == float("inf") and row["peak_bytes"] == 2 ** 53 + 1
    assert row["shape"] == "[3, 4]" and np.signbit(row["tiny"])


def test_a_folder_of_one_point_parts_resumes(tmp_path):
    """Folders of earlier versions hold parts/<hash>.json, one point each: they count as
    committed, and the tables read them."""
    spec = _spec()
    out = tmp_path / "out"
    with ResultStore(out, spec) as store:
        pass
    for p in spec.points[:3]:
        (out / "parts" / f"{p.hash}.json").write_text(json.dumps(
            {"point_index": p.index, "point_hash": p.hash, "rows": _gemm_rows(p)}))
    with ResultStore(out, spec) as store:
        assert [p.index for p in store.pending()] == [3]
        store.commit(spec.points[3], _gemm_rows(spec.points[3]))
        mixed = store.consolidate()
    with ResultStore(tmp_path / "ref", spec) as store:
        for p in spec.points:
            store.commit(p, _gemm_rows(p))
        ref = store.consolidate()
    pd.testing.assert_frame_equal(mixed.results, ref.results)
    pd.testing.assert_frame_equal(mixed.totals, ref.totals)


@pytest.mark.parametrize("text", ["", "{not json\n", '{"points": 3}\n',
                                  '{"points": ["HASH"]}\n{"point_hash": "4567", "rows": []}\n'])
def test_an_unreadable_part_is_a_user_error_naming_it(tmp_path, text):
    spec = _spec()
    out = tmp_path / "out"
    with ResultStore(out, spec) as store:
        store.commit(spec.points[0], _gemm_rows(spec.points[0]))
    (out / "parts" / "0123.jsonl").write_text(text.replace("HASH", spec.points[1].hash))
    with pytest.raises(UserError, match="0123.jsonl.*unreadable part.*delete it") as info:
        with ResultStore(out, spec) as store:
            for p in store.pending():
                store.commit(p, _gemm_rows(p))
            store.consolidate()
    assert "\n" not in str(info.value)
