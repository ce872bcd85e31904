"""Plots: every kind renders from a sweep folder to valid PNG/PDF/SVG files of sensible size."""
from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest

from imsim.cli import main
from imsim.plot import KINDS, bit_axis, check_out_path, pareto_front, spans_decades
from imsim.errors import UserError
from imsim.sweep.spec import parse_spec
from imsim.sweep.store import ResultStore

LAYERS = [("q", "linear"), ("k", "linear"), ("qk", "attn_qk"), ("pv", "attn_pv"), ("dx", "grad_input")]


def _fake_rows(point):
    """GEMM rows whose unpack ratio falls with bit width and whose cost grows with the array."""
    bits, r = point.hw.a_bits, point.hw.rows
    rows = []
    for i, (name, kind) in enumerate(LAYERS):
        useful = 4096 * (i + 1)
        ratio = 1.0 + (i + 1) * 2.0 ** (4 - bits) * (2.0 if point.strategy == "row" else 1.0)
        macs = int(useful * ratio)
        cycles = macs // (r * r) + 10 * i
        rows.append({"name": name, "kind": kind, "phase": "fwd", "macs": macs, "useful_macs": useful,
                     "unpack_ratio": macs / useful, "cycles": cycles, "energy_pj": macs * 0.05 * bits,
                     "area_um2": 150.0 * r * r * bits, "energy_per_useful_mac_pj": macs * 0.05 * bits / useful,
                     "exact": True})
    return rows


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    spec = parse_spec({"name": "plots", "axes": {"rows": [4, 16, 64], "cols": [4, 16, 64], "a_bits": [2, 4, 8],
                                                 "w_bits": [2, 4, 8], "strategy": ["row", "both"]},
                       "zip": [["rows", "cols"], ["a_bits", "w_bits"]]}, source="plots.yaml")
    out = tmp_path_factory.mktemp("sweep")
    with ResultStore(out, spec) as store:
        for p in spec.points:
            store.commit(p, _fake_rows(p))
        store.consolidate()
    return out


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_png(sweep_dir, tmp_path, kind):
    out = tmp_path / f"{kind}.png"
    assert main(["plot", str(sweep_dir), "--kind", kind, "--out", str(out)]) == 0
    w, h = png_size(out)
    assert 400 <= w <= 5000 and 300 <= h <= 5000
    assert out.stat().st_size > 10_000  # axes, labels and data, not an empty canvas


def test_pdf_and_svg(sweep_dir, tmp_path, capsys):
    assert main(["plot", str(sweep_dir), "--kind", "heatmap", "--out", str(tmp_path / "p.pdf"), "--json"]) == 0
    assert '"heatmap"' in capsys.readouterr().out
    pdf = tmp_path / "p.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000
    assert main(["plot", str(sweep_dir), "--kind", "pareto", "--y", "energy_pj", "--out", str(tmp_path / "e.svg")]) == 0
    text = (tmp_path / "e.svg").read_text()
    assert "<svg" in text[:2000] and "</svg>" in text[-100:]


def test_bad_inputs_are_one_line_errors(sweep_dir, tmp_path, capsys):
    assert main(["plot", str(sweep_dir), "--out", str(tmp_path / "x.jpg")]) == 2
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2
    assert main(["plot", str(sweep_dir), "--kind", "pareto", "--x", "nonsense", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("imsim: error:") for line in err)
    with pytest.raises(UserError):
        check_out_path("a.gif")


def test_pareto_front_and_helpers():
    x = np.array([1.0, 2.0, 3.0, 2.0, 5.0])
    y = np.array([5.0, 3.0, 4.0, 1.0, 0.5])
    assert list(pareto_front(x, y)) == [0, 3, 4]
    assert spans_decades([1, 200]) and not spans_decades([1, 9.9])
    df = pd.DataFrame({"a_bits": [4, 8], "w_bits": [4, 8]})
    vals, lab = bit_axis(df)
    assert list(vals) == [4, 8] and "a_bits = w_bits" in lab


def test_plots_from_a_real_sweep(tmp_path):
    from imsim.sweep import run_sweep

    spec = parse_spec({"base": {"rows": 8, "cols": 8},
                       "axes": {"trace": {"synthetic": {"shapes": [[16, 32, 8], [24, 16, 16]], "seed": 5,
                                                        "heavy_fraction": 0.05}},
                                "rows": [4, 16], "cols": [4, 16], "a_bits": [3, 6], "w_bits": [3, 6],
                                "strategy": ["row", "both"], "beta": 0.99},
                       "zip": [["rows", "cols"], ["a_bits", "w_bits"]]}, source="real.yaml")
    run_sweep(spec, tmp_path / "sweep", workers=0, progress=False)
    assert main(["plot", str(tmp_path / "sweep"), "--out", str(tmp_path / "real.png")]) == 0
    for kind in KINDS:
        w, h = png_size(tmp_path / f"real-{kind}.png")
        assert w >= 400 and h >= 300


def _quality_totals():
    rows = []
    for bits in (2, 4, 8):
        for levels in (7, 15, 255):
            for quantizer in ("paper", "symmetric"):
                rows.append({"a_bits": bits, "w_bits": bits, "levels": levels, "quantizer": quantizer,
                             "strategy": "auto", "beta": 0.99, "cycles": 1000.0 * levels / bits,
                             "energy_pj": 5.0 * levels, "area_um2": 100.0 * bits, "energy_per_useful_mac_pj": 0.1,
                             "rel_error": 1.0 / levels + (0.01 if quantizer == "symmetric" else 0.0),
                             "sqnr_db": 20.0 + levels / 10})
    return pd.DataFrame(rows)


def test_pareto_cost_vs_quality_where_and_facet():
    from imsim.plot import apply_where, make_figure, parse_where

    df = _quality_totals()
    fig = make_figure("pareto", None, df)
    title = fig._suptitle.get_text()
    assert "relative error" in title and "cycles" in title
    assert "points differ in" in title and "levels" in title and "quantizer" in title
    ax = fig.axes[0]
    assert ax.get_xlabel() == "cycles" and "relative error" in ax.get_ylabel()
    where = parse_where(["levels=15", "quantizer=paper"])
    fig = make_figure("pareto", None, df, cost="energy_pj", quality="sqnr_db", where=where)
    title = fig._suptitle.get_text()
    assert "where levels=15, quantizer=paper" in title and "higher is better" in title
    assert len(apply_where(df, where, "totals")) == 3
    fig = make_figure("pareto", None, df, facet="quantizer")
    assert {a.get_title() for a in fig.axes if a.get_title()} >= {"quantizer = paper", "quantizer = symmetric"}
    assert "quantizer" not in fig._suptitle.get_text().split("points differ in")[-1]


def test_where_errors_and_cost_title_names_pooled_axes(tmp_path, sweep_dir, capsys):
    from imsim.plot import make_figure, parse_where

    df = _quality_totals()
    with pytest.raises(UserError, match="no column 'bogus'"):
        make_figure("pareto", None, df, where=parse_where(["bogus=1"]))
    with pytest.raises(UserError, match="no rows"):
        make_figure("pareto", None, df, where=parse_where(["levels=9"]))
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_where(["levels"])
    fig = make_figure("cost", None, df)
    assert "median over levels {7, 15, 255}; quantizer {paper, symmetric}" in fig._suptitle.get_text()
    out = tmp_path / "w.png"
    assert main(["plot", str(sweep_dir), "--kind", "unpack-ratio", "--where", "strategy=row", "--out", str(out)]) == 0
    assert png_size(out)[0] >= 400
    assert main(["plot", str(sweep_dir), "--kind", "cost", "--where", "nope=1", "--out", str(out)]) == 2
    assert "nope" in capsys.readouterr().err


def test_axes_set_by_the_drawn_ones_are_not_called_pooled():
    from imsim.plot import pooled_note

    df = pd.DataFrame({"a_bits": [2, 4, 8, 2, 4, 8], "w_bits": [2, 4, 8, 2, 4, 8], "levels": [3, 15, 255] * 2,
                       "beta": [0.99] * 3 + [1.0] * 3, "strategy": ["auto"] * 6})
    note = pooled_note(df, ("a_bits", "w_bits", "strategy"))
    assert "beta {0.99, 1.0}" in note and "levels" not in note
