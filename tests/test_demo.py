"""`imsim demo`: the main job on the bundled trace (reduced with --max-gemms) and on a tiny
synthetic trace; checks the table, the JSON, the plot and the exit statuses."""
from __future__ import annotations

import dataclasses
import json
import struct

import numpy as np
import pytest

from imsim.cli import main
from imsim.demo import DEMO_DESIGNS, SUMMARY_COLUMNS

N_RUNS = sum(len(d.strategies) for d in DEMO_DESIGNS)  # (design, strategy) rows: 1 + 1 + 4 + 1


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def demo_json(tmp_path_factory):
    """One demo run on the first 3 GEMMs of the bundled trace, --json."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    out = tmp_path_factory.mktemp("demo") / "out"
    so, se = io.StringIO(), io.StringIO()
    with redirect_stdout(so), redirect_stderr(se):
        rc = main(["demo", "--out", str(out), "--max-gemms", "3", "--json"])
    return rc, json.loads(so.getvalue()), se.getvalue(), out


def test_demo_json_rows_are_exact_and_consistent(demo_json):
    rc, data, err, out = demo_json
    assert rc == 0
    assert data["gemms"] == 3 and data["all_exact"] is True
    rows = data["rows"]
    assert len(rows) == N_RUNS
    assert {(r["design"], r["strategy"]) for r in rows} == {(d.label, s) for d in DEMO_DESIGNS for s in d.strategies}
    for r in rows:
        assert r["exact"] is True
        assert r["unpack_ratio"] >= 1.0
        assert r["macs"] >= r["useful_macs"] > 0
        assert r["cycles"] > 0 and r["energy_pj"] > 0 and r["area_um2"] > 0
        assert r["energy_per_useful_mac_pj"] == pytest.approx(r["energy_pj"] / r["useful_macs"])
        assert r["unpack_ratio"] == pytest.approx(r["macs"] / r["useful_macs"])
    by = {(r["design"], r["strategy"]): r for r in rows}
    # int8 at beta 0.99, d = 15: heavy hitters leave +-127, so int8 unpacks too, less than narrower MACs
    assert 1.0 <= by[("32x32_int8", "auto")]["unpack_ratio"] <= by[("38x38_int4", "auto")]["unpack_ratio"] \
        <= by[("41x41_int2", "auto")]["unpack_ratio"]
    for design in ("38x38_int4",):
        # auto picks the cheapest strategy pair per GEMM, so it never does worse than row/col/both
        assert by[(design, "auto")]["macs"] <= min(by[(design, s)]["macs"] for s in ("row", "col", "both"))
    # same useful work everywhere
    assert len({r["useful_macs"] for r in rows}) == 1
    # narrower operands: same useful work, more MACs run than int8 (heavy hitters exist at beta 0.99)
    assert by[("38x38_int4", "auto")]["unpack_ratio"] > 1.0 and by[("41x41_int2", "auto")]["unpack_ratio"] > 1.0
    # one quantization for every design: the same quantization error everywhere
    assert len({round(r["rel_error"], 12) for r in rows}) == 1
    # progress on stderr, one line per GEMM
    assert err.count("demo: GEMM ") == 3


def test_demo_writes_plot_and_tables(demo_json):
    _, data, _, out = demo_json
    png = out / "demo_tradeoff.png"
    assert data["plot"] == str(png) and png.is_file()
    width, height = _png_size(png)
    assert width >= 800 and height >= 300
    import pandas as pd

    totals = pd.read_csv(out / "demo_totals.csv")
    assert len(totals) == N_RUNS
    gemms = pd.read_csv(out / "demo_gemms.csv")
    assert len(gemms) == N_RUNS * 3
    # the totals are the sums of the per-GEMM rows
    for design, strategy in (("38x38_int4", "row"), ("41x41_int2", "auto")):
        t = totals[(totals["design"] == design) & (totals["strategy"] == strategy)].iloc[0]
        g = gemms[(gemms["design"] == design) & (gemms["strategy"] == strategy)]
        assert t["cycles"] == g["cycles"].sum()
        assert t["energy_pj"] == pytest.approx(g["energy_pj"].sum())
    md = (out / "demo_summary.md").read_text()
    assert md.count("\n| ") == N_RUNS + 1


def test_demo_designs_are_a_controlled_comparison():
    """Same quantization and base design for all; areas within 1 % of the int8 reference's."""
    from imsim.area import area_of_design
    from imsim.demo import load_design

    assert len({(d.beta, d.levels, d.config) for d in DEMO_DESIGNS}) == 1
    hws = [load_design(d) for d in DEMO_DESIGNS]
    ref = area_of_design(hws[0]).area_um2
    assert hws[0].a_bits == 8
    for hw in hws[1:]:
        assert abs(area_of_design(hw).area_um2 / ref - 1) < 0.01
        assert (hw.dram_bw_bytes_per_cycle, hw.acc_bits, hw.sram_a_kib, hw.sram_b_kib, hw.sram_c_kib) == (
            hws[0].dram_bw_bytes_per_cycle, hws[0].acc_bits, hws[0].sram_a_kib, hws[0].sram_b_kib, hws[0].sram_c_kib)


def test_demo_table_output(tmp_path, capsys):
    rc = main(["demo", "--out", str(tmp_path / "o"), "--max-gemms", "1"])
    cap = capsys.readouterr()
    assert rc == 0
    lines = cap.out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["design", "bits", "strategy"])
    assert lines[header].split() == list(SUMMARY_COLUMNS)
    body = lines[header + 2: header + 2 + N_RUNS]
    assert all(line.split()[-1] == "True" for line in body)
    assert "all exact: yes" in cap.out
    assert str(tmp_path / "o" / "demo_tradeoff.png") in cap.out
    assert "wrote" in cap.err


def _tiny_trace(tmp_path):
    from imsim.trace.format import make_record, save_trace

    rng = np.random.default_rng(7)
    recs = []
    for i, (M, K, N) in enumerate([(8, 16, 8), (12, 8, 16)]):
        A = rng.standard_normal((M, K)).astype(np.float32)
        B = rng.standard_normal((K, N)).astype(np.float32)
        A[0, 0] = 40.0  # a heavy hitter
        recs.append(make_record(A, B, name=f"g{i}", kind="linear", phase="fwd", model="tiny"))
    path = tmp_path / "tiny.npz"
    save_trace(path, recs, float_dtype="float32")
    return path


def test_demo_on_a_given_trace(tmp_path, capsys):
    rc = main(["demo", "--trace", str(_tiny_trace(tmp_path)), "--out", str(tmp_path / "o"), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["gemms"] == 2 and data["all_exact"]
    assert data["rows"][0]["useful_macs"] == 8 * 16 * 8 + 12 * 8 * 16


def test_demo_exits_1_when_a_result_is_not_exact(tmp_path, capsys, monkeypatch):
    import imsim.simulate

    real = imsim.simulate.simulate_gemm

    def broken(hw, ug, **kw):
        res = real(hw, ug, **kw)
        return dataclasses.replace(res, exact=False) if hw.a_bits == 2 else res

    monkeypatch.setattr(imsim.simulate, "simulate_gemm", broken)
    rc = main(["demo", "--trace", str(_tiny_trace(tmp_path)), "--out", str(tmp_path / "o"), "--workers", "1"])
    cap = capsys.readouterr()
    assert rc == 1
    assert "all exact: NO" in cap.out
    assert "not exact" in cap.err and "41x41_int2/auto" in cap.err


@pytest.mark.parametrize("argv", [["--max-gemms", "0"], ["--max-gemms", "x"], ["--workers", "-1"], ["--trace", "/nonexistent.npz"]])
def test_demo_user_errors(tmp_path, capsys, argv):
    rc = main(["demo", "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("imsim: error:") and len(err.strip().splitlines()) == 1


def test_demo_out_must_be_a_folder(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["demo", "--out", str(f), "--max-gemms", "1"]) == 2
    assert "not a folder" in capsys.readouterr().err
