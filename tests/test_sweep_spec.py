"""Sweep spec: expansion (product, zip, filters), stable hashes, one-line errors, safe expressions."""
from __future__ import annotations

import textwrap

import pytest

from imsim.area import area_of_design
from imsim.cli import main
from imsim.errors import UserError
from imsim.sweep.expr import parse_expr
from imsim.sweep.spec import load_spec, parse_spec


def spec_of(data, tmp_path=None):
    return parse_spec(data, source="s.yaml", base_dir=tmp_path)


def test_cartesian_product_in_axis_order():
    s = spec_of({"axes": {"rows": [8, 16], "a_bits": [4, 6, 8], "strategy": ["row", "col"]}})
    assert len(s.points) == 12 and s.combinations == 12
    first = [(p.hw.rows, p.hw.a_bits, p.strategy) for p in s.points[:4]]
    assert first == [(8, 4, "row"), (8, 4, "col"), (8, 6, "row"), (8, 6, "col")]
    assert [p.index for p in s.points] == list(range(12))
    assert len({p.hash for p in s.points}) == 12


def test_zip_groups_advance_together():
    s = spec_of({"axes": {"rows": [8, 16, 32], "cols": [4, 8, 16], "a_bits": [4, 8], "w_bits": [4, 8]},
                 "zip": [["rows", "cols"], ["a_bits", "w_bits"]]})
    assert len(s.points) == 6
    assert {(p.hw.rows, p.hw.cols) for p in s.points} == {(8, 4), (16, 8), (32, 16)}
    assert all(p.hw.a_bits == p.hw.w_bits for p in s.points)


def test_filters_expression_and_area():
    base = {"axes": {"rows": [4, 8, 16, 32], "cols": [4, 8, 16, 32], "a_bits": [4, 8]}}
    s = spec_of({**base, "filters": ["rows * cols <= 256 and rows == cols"]})
    assert sorted({(p.hw.rows, p.hw.cols) for p in s.points}) == [(4, 4), (8, 8), (16, 16)]
    assert s.combinations == 32
    full = spec_of(base)
    areas = sorted(area_of_design(p.hw).area_um2 for p in full.points)
    budget = areas[len(areas) // 2]
    kept = spec_of({**base, "filters": [{"max_area_um2": budget}]})
    assert 0 < len(kept.points) < len(full.points)
    assert all(area_of_design(p.hw).area_um2 <= budget for p in kept.points)
    same = spec_of({**base, "filters": [f"area_um2 <= {budget!r}"]})
    assert [p.hash for p in same.points] == [p.hash for p in kept.points]


def test_equal_area_sizes_each_array_to_the_reference():
    ref = {"rows": 32, "cols": 32, "a_bits": 8, "w_bits": 8}
    s = spec_of({"equal_area": ref, "axes": {"a_bits": [2, 4, 8], "w_bits": [2, 4, 8], "acc_bits": 40},
                 "zip": [["a_bits", "w_bits"]]})
    budget = area_of_design(spec_of({"base": ref}).points[0].hw).area_um2
    sizes = []
    for p in s.points:
        assert p.hw.rows == p.hw.cols and p.fields()["rows"] == p.hw.rows
        assert area_of_design(p.hw).area_um2 <= budget
        bigger = p.hw.replace(rows=p.hw.rows + 1, cols=p.hw.cols + 1)
        assert area_of_design(bigger).area_um2 > budget
        sizes.append(p.hw.rows)
    assert sizes[0] > sizes[1] > sizes[2]
    with pytest.raises(UserError, match="remove axes.rows"):
        spec_of({"equal_area": ref, "axes": {"rows": [8]}})


def test_hashes_are_stable_and_content_based():
    a = spec_of({"axes": {"rows": [8, 16], "strategy": "both"}})
    b = spec_of({"description": "same points, other text", "axes": {"strategy": ["both"], "rows": [8, 16]}})
    assert [p.hash for p in a.points] == [p.hash for p in b.points] and a.hash == b.hash
    c = spec_of({"axes": {"rows": [8, 32], "strategy": "both"}})
    assert a.points[0].hash == c.points[0].hash and a.points[1].hash != c.points[1].hash
    assert a.hash != c.hash
    assert len(a.points[0].hash) == 16 and int(a.points[0].hash, 16) >= 0


def test_traces_quantization_and_fields(tmp_path):
    s = spec_of({"axes": {"trace": ["bundled", {"synthetic": {"shapes": [[8, 16, 4]], "seed": 3}, "name": "syn"}],
                          "beta": [1.0, 0.999], "granularity": ["tensor", "row"], "timing": "scalesim"}}, tmp_path)
    assert len(s.points) == 8
    p = s.points[-1]
    f = p.fields()
    assert f["trace"] == "syn" and f["beta"] == 0.999 and f["granularity"] == "row" and f["timing"] == "scalesim"
    assert f["hw_name"] == p.hw.name and f["rows"] == p.hw.rows
    assert p.group_key() != s.points[0].group_key()


def test_format_axes_set_widths_and_keys():
    s = spec_of({"axes": {"format": ["none", "e2m3", "fp8_e4m3", "e5m2"], "rows": [8, 16]}})
    assert len(s.points) == 8
    rtn, e2m3, e4m3fn = s.points[0], s.points[2], s.points[4]
    assert (rtn.format_a, rtn.format_b, rtn.hw.a_bits) == ("", "", 8)  # RTN: the base's widths
    assert (e2m3.format_a, e2m3.format_b, e2m3.hw.a_bits, e2m3.hw.w_bits) == ("e2m3", "e2m3", 5, 5)
    assert e4m3fn.format_a == "e4m3fn" and e4m3fn.fields()["format_b"] == "e4m3fn"  # canonical names
    assert s.points[6].hw.a_bits == 4  # e5m2: significand width 4
    keys = {p.group_key() for p in s.points}
    assert len(keys) == 4  # the format is part of the work key; rows is not
    # RTN points hash as before formats existed
    assert rtn.hash == spec_of({"axes": {"rows": [8, 16]}}).points[0].hash
    # an explicit a_bits axis wins; w_bits still follows the (B-side) format
    t = spec_of({"axes": {"format": "e2m1", "w_format": "e4m3", "a_bits": [8]}})
    p = t.points[0]
    assert (p.hw.a_bits, p.hw.w_bits, p.format_a, p.format_b) == (8, 5, "e2m1", "e4m3")
    # format points and beta: a filter can skip the combination
    u = spec_of({"axes": {"format": ["none", "e2m1"], "beta": [1.0, 0.99]},
                 "filters": ["format_a == '' or beta == 1"]})
    assert [(p.format_a, p.beta) for p in u.points] == [("", 1.0), ("", 0.99), ("e2m1", 1.0)]


def test_base_config_file_and_inline(tmp_path):
    (tmp_path / "mine.yaml").write_text("rows: 12\ncols: 10\n")
    s = spec_of({"base": "mine.yaml", "axes": {"a_bits": [4, 8]}}, tmp_path)
    assert {(p.hw.rows, p.hw.cols, p.hw.name) for p in s.points} == {(12, 10, "mine")}
    s = spec_of({"base": {"config": "mine.yaml", "dataflow": "ws"}}, tmp_path)
    assert s.points[0].hw.dataflow == "ws" and s.points[0].hw.rows == 12
    s = spec_of({"base": {"rows": 6}})
    assert s.points[0].hw.rows == 6


@pytest.mark.parametrize("data,needle", [
    ({"axes": {"rowz": [8]}}, "did you mean 'rows'"),
    ({"axis": {"rows": [8]}}, "did you mean 'axes'"),
    ({"axes": {"rows": []}}, "at least one value"),
    ({"axes": {"rows": [0]}}, "axes.rows"),
    ({"axes": {"dataflow": ["os", "xs"]}}, "dataflow"),
    ({"axes": {"strategy": ["rows"]}}, "strategy"),
    ({"axes": {"beta": [1.5]}}, "beta"),
    ({"axes": {"granularity": ["channel"]}}, "granularity"),
    ({"axes": {"rows": [8, 8]}}, "distinct"),
    ({"axes": {"rows": [8, 16], "cols": [8]}, "zip": [["rows", "cols"]]}, "equal lengths"),
    ({"axes": {"rows": [8]}, "zip": [["rows", "colz"]]}, "not an axis"),
    ({"axes": {"rows": [8]}, "filters": ["rows > 10000"]}, "empty"),
    ({"filters": ["rowz > 1"]}, "did you mean 'rows'"),
    ({"filters": [{"max_area": 5}]}, "did you mean 'max_area_um2'"),
    ({"base": {"rowz": 4}}, "rows"),
    ({"base": "no_such_config"}, "base"),
    ({"axes": {"a_bits": [16], "w_bits": [16], "acc_bits": [24]}}, "add a filter"),
    ({"axes": {"trace": ["missing.npz"]}}, "trace not found"),
    ({"axes": {"trace": [{"synthetic": {"shapez": [[1, 2, 3]]}}]}}, "did you mean 'shapes'"),
    ({"axes": {"trace": [{"synthetic": {"shapes": [[1, 2]]}}]}}, "shapes"),
    ({"axes": {"trace": [{"path": "bundled", "phases": ["sideways"]}]}}, "phases"),
    ([1, 2], "mapping"),
    ({"axes": {"format": ["e2m3", "e9x"]}}, "axes.format = 'e9x'"),
    ({"axes": {"w_format": [7]}}, "axes.w_format"),
    ({"axes": {"format": "e2m3", "beta": [1.0, 0.99]}}, "beta"),
    ({"axes": {"format": ["none", "e2m1"], "w_format": "e2m1"}}, "needs axes.format"),
])
def test_errors_are_one_line(tmp_path, data, needle):
    with pytest.raises(UserError) as info:
        spec_of(data, tmp_path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("s.yaml") and needle in msg


@pytest.mark.parametrize("text", ['__import__("os").system("true")', "rows.__class__", "[x for x in (1,)]",
                                  "lambda: 1", "open('f')", "rows if (rows := 3) else 1", "2 ** 10000"])
def test_expressions_cannot_run_code(text):
    with pytest.raises(UserError):
        parse_expr(text, {"rows"}, "f").evaluate({"rows": 2})


def test_expression_values():
    env = {"rows": 8, "cols": 4, "dataflow": "ws"}
    assert parse_expr("rows * cols == 32 and dataflow in ('ws', 'os')", set(env), "f").evaluate(env)
    assert parse_expr("max(rows, cols) // min(rows, cols) == 2", set(env), "f").evaluate(env)
    assert not parse_expr("not (1 < rows <= 8)", set(env), "f").evaluate(env)
    assert parse_expr("-rows + abs(-cols) if rows > cols else 0", set(env), "f").evaluate(env) == -4


def test_load_spec_file_and_dry_run(tmp_path, capsys):
    path = tmp_path / "exp.yaml"
    path.write_text(textwrap.dedent("""\
        name: tiny
        axes:
          rows: [8, 16]
          a_bits: [4, 8]
        filters:
          - "a_bits >= 4"
        """))
    s = load_spec(path)
    assert s.name == "tiny" and len(s.points) == 4
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    assert "4 points" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("axes: {rows: [8,\n")
    assert main(["sweep", str(bad), "--out", str(tmp_path / "o2"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.yaml" in err


MY_SPECS = {"smoke.yaml": 50, "bundled_sweep.yaml": 200, "equal_area.yaml": 10, "synthetic_quantization.yaml": 50,
            "formats.yaml": 6}


def test_example_specs_are_valid():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "experiments"
    for name, at_least in MY_SPECS.items():
        s = load_spec(folder / name)
        assert len(s.points) >= at_least, name


def test_quantization_axes_resolve_levels_and_split_points():
    s = spec_of({"axes": {"a_bits": [2, 4], "levels": [None, 15], "quantizer": ["paper", "symmetric"],
                          "digits": ["signmag", "floor"]}})
    assert len(s.points) == 16 and len({p.hash for p in s.points}) == 16
    assert len({p.group_key() for p in s.points}) == 16
    f = {(p.hw.a_bits, p.fields()["levels"], p.fields()["w_levels"]) for p in s.points}
    # null levels: 2^a_bits - 1 for A, 2^w_bits - 1 (w_bits stays 8) for B; given levels: both
    assert f == {(2, 3, 255), (2, 15, 15), (4, 15, 255), (4, 15, 15)}
    kept = spec_of({"axes": {"levels": [7, 15, 31]}, "filters": ["levels >= 15"]})
    assert [p.levels for p in kept.points] == [15, 31]
    w = spec_of({"axes": {"levels": 7, "w_levels": 31}})
    assert (w.points[0].levels, w.points[0].w_levels) == (7, 31)


@pytest.mark.parametrize("axes, match", [({"levels": 4}, "axes.levels"), ({"w_levels": 1}, "axes.w_levels"),
                                         ({"quantizer": "apot"}, "axes.quantizer"), ({"digits": "x"}, "axes.digits"),
                                         ({"levels": True}, "axes.levels")])
def test_quantization_axes_bad_values(axes, match):
    with pytest.raises(UserError, match=match):
        spec_of({"axes": axes})


def test_a_mistyped_base_design_gets_a_suggestion():
    with pytest.raises(UserError, match=r"base = 'edge_16x16_int': .*\(did you mean 'edge_16x16_int4'\?\)"):
        parse_spec({"base": "edge_16x16_int"}, source="s.yaml")


def test_format_points_refuse_rtn_settings_unless_filtered():
    with pytest.raises(UserError, match="format_a == ''"):
        spec_of({"axes": {"format": ["e2m1", "none"], "levels": [None, 15]}})
    s = spec_of({"axes": {"format": ["e2m1", "none"], "levels": [None, 15], "quantizer": ["paper", "symmetric"]},
                 "filters": ["format_a == '' or (quantizer == 'paper' and levels == 2**a_bits - 1 and "
                             "w_levels == 2**w_bits - 1)"]})
    assert len(s.points) == 5  # 1 format point + 4 RTN points
