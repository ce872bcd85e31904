"""Tests of imsim.hwconfig: HwConfig schema, YAML loading, --set overrides, shipped configs."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imsim.errors import UserError
from imsim.hwconfig import FIELDS, HwConfig, load_hw_config, parse_overrides

HW_DIR = Path(__file__).resolve().parent.parent / "hw_configs"
SHIPPED = sorted(HW_DIR.glob("*.yaml"))


def write(tmp_path: Path, text: str, name: str = "hw.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def one_line_error(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg
    return msg


# ---- shipped configs ------------------------------------------------------------------------
def test_expected_configs_are_shipped():
    names = {p.stem for p in SHIPPED}
    assert {"default", "tpu_v1_256x256_int8_ws", "array_128x128_int8", "array_32x32_int4",
            "edge_16x16_int4", "array_64x64_int2"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_yaml_loads(path):
    text = path.read_text()
    cfg = load_hw_config(path)
    assert cfg.name == path.stem
    assert text.lstrip().startswith("#"), "shipped configs start with a comment citing sources"
    # every key is spelled out in the file (no silent defaults in shipped designs)
    for key in FIELDS:
        assert f"\n{key}:" in "\n" + text, key


def test_default_yaml_equals_dataclass_defaults():
    assert load_hw_config(HW_DIR / "default.yaml") == HwConfig()


def test_tpu_v1_numbers():
    c = load_hw_config(HW_DIR / "tpu_v1_256x256_int8_ws.yaml")
    assert (c.rows, c.cols, c.a_bits, c.w_bits, c.acc_bits, c.dataflow) == (256, 256, 8, 8, 32, "ws")
    assert c.clock_mhz == 700 and c.sram_a_kib == 24 * 1024 and c.sram_c_kib == 4 * 1024
    assert c.dram_bw_bytes_per_cycle == pytest.approx(30e9 / 700e6, abs=0.2)


# ---- the dataclass ----------------------------------------------------------------------------
def test_defaults_and_round_trip():
    c = HwConfig()
    d = c.to_dict()
    assert list(d) == list(FIELDS)
    assert (d["rows"], d["cols"], d["a_bits"], d["acc_bits"], d["dataflow"]) == (32, 32, 8, 32, "os")
    assert HwConfig.from_dict(d) == c
    assert isinstance(c.clock_mhz, float) and c.pes == 1024


def test_replace_is_validated():
    c = HwConfig().replace(rows=64, dataflow="ws", clock_mhz=500)
    assert (c.rows, c.dataflow, c.clock_mhz) == (64, "ws", 500.0)
    with pytest.raises(UserError, match="rows = 0"):
        HwConfig().replace(rows=0)
    with pytest.raises(UserError, match="unknown key 'row'"):
        HwConfig().replace(row=3)
    with pytest.raises(UserError):
        HwConfig(rows=0)  # direct construction validates too


def test_int_to_float_normalised_and_bool_not_int():
    c = HwConfig.from_dict({"dram_bw_bytes_per_cycle": 43})
    assert c.dram_bw_bytes_per_cycle == 43.0 and isinstance(c.dram_bw_bytes_per_cycle, float)
    with pytest.raises(UserError):
        HwConfig.from_dict({"rows": True})
    with pytest.raises(UserError):
        HwConfig.from_dict({"double_buffered": 1})


# ---- validation errors name file, key, value, what is allowed -----------------------------------
BAD = [
    # (yaml text, key, value text, words of the allowed part)
    ("rowz: 32\n", "rowz", "32", "did you mean 'rows'"),
    ("rows: 0\n", "rows", "0", "1..4096"),
    ("cols: 5000\n", "cols", "5000", "1..4096"),
    ("a_bits: 1\n", "a_bits", "1", "2..16"),
    ("w_bits: 17\n", "w_bits", "17", "2..16"),
    ("a_bits: 17\n", "a_bits", "17", "2..16"),
    ("dram_bw_bytes_per_cycle: -4\n", "dram_bw_bytes_per_cycle", "-4", "> 0"),
    ("acc_bits: 14\n", "acc_bits", "14", "accumulator narrower than a product"),
    ("a_bits: 16\nw_bits: 16\nacc_bits: 30\n", "acc_bits", "30", "31..64"),
    ("dataflow: rs\n", "dataflow", "'rs'", "os, ws, is"),
    ("overflow: clip\n", "overflow", "'clip'", "error, wrap, saturate"),
    ("rows: '32'\n", "rows", "'32'", "integer"),
    ("double_buffered: 'yes'\n", "double_buffered", "'yes'", "true or false"),
    ("clock_mhz: 0\n", "clock_mhz", "0", "> 0"),
    ("dram_latency_cycles: -1\n", "dram_latency_cycles", "-1", ">= 0"),
    ("technology: ''\n", "technology", "''", "non-empty"),
    ("recomb_acc_bits: 8\n", "recomb_acc_bits", "8", "16..128"),
]


@pytest.mark.parametrize("text,key,value,allowed", BAD, ids=[b[1] + "=" + b[2] for b in BAD])
def test_bad_file_values(tmp_path, text, key, value, allowed):
    path = write(tmp_path, text)
    with pytest.raises(UserError) as excinfo:
        load_hw_config(path)
    msg = one_line_error(excinfo)
    assert str(path) in msg and key in msg and value in msg and allowed in msg, msg


@pytest.mark.parametrize("text,what", [
    ("- rows\n- cols\n", "expected a mapping"),
    ("rows: [1, 2\n", "YAML syntax error: line"),
    ("", "empty file"),
    ("rows: 8\nrows: 16\n", "duplicate key 'rows'"),
    ("42\n", "expected a mapping"),
])
def test_bad_yaml_documents(tmp_path, text, what):
    path = write(tmp_path, text)
    with pytest.raises(UserError) as excinfo:
        load_hw_config(path)
    msg = one_line_error(excinfo)
    assert str(path) in msg and what in msg, msg


def test_unreadable_file(tmp_path):
    with pytest.raises(UserError) as excinfo:
        load_hw_config(tmp_path / "missing.yaml")
    assert "missing.yaml" in one_line_error(excinfo)
    with pytest.raises(UserError):
        load_hw_config(tmp_path)  # a directory


# ---- overrides --------------------------------------------------------------------------------
def test_set_overrides_list_and_dict(tmp_path):
    path = write(tmp_path, "rows: 16\ncols: 16\n", "small.yaml")
    c = load_hw_config(path, ["rows=32", "dataflow=ws", "double_buffered=false", "clock_mhz=1.5e3",
                              "name=123"])
    assert (c.rows, c.cols, c.dataflow, c.double_buffered, c.clock_mhz, c.name) == \
        (32, 16, "ws", False, 1500.0, "123")
    assert load_hw_config(path).name == "small"
    assert load_hw_config(path, {"a_bits": 4, "w_bits": 4}).a_bits == 4


@pytest.mark.parametrize("sets,needle", [
    (["rowz=3"], "--set: unknown key 'rowz'"),
    (["rows=0"], "--set: rows = 0"),
    (["rows"], "expected KEY=VALUE"),
    (["w_bits=17"], "--set: w_bits = 17"),
    (["dram_bw_bytes_per_cycle=-1"], "--set: dram_bw_bytes_per_cycle = -1"),
    (["acc_bits=10"], "with --set: acc_bits = 10"),
    (["rows=[1"], "--set: rows = '[1'"),
])
def test_bad_overrides(tmp_path, sets, needle):
    path = write(tmp_path, "rows: 16\n")
    with pytest.raises(UserError) as excinfo:
        load_hw_config(path, sets)
    assert needle in one_line_error(excinfo)


def test_file_error_reported_before_overrides_apply(tmp_path):
    path = write(tmp_path, "rows: 0\n")
    with pytest.raises(UserError) as excinfo:
        load_hw_config(path, ["rows=4"])  # the file itself is wrong: say so
    assert str(path) in str(excinfo.value)


def test_parse_overrides_yaml_values():
    assert parse_overrides(["rows=8", "zero_skipping=true", "technology=28nm"]) == \
        {"rows": 8, "zero_skipping": True, "technology": "28nm"}


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 4096), cols=st.integers(1, 4096), a=st.integers(2, 16),
       w=st.integers(2, 16), extra=st.integers(0, 64), bw=st.floats(1e-3, 1e4),
       df=st.sampled_from(["os", "ws", "is"]))
def test_valid_configs_round_trip(rows, cols, a, w, extra, bw, df):
    acc = min(64, a + w - 1 + extra)
    c = HwConfig.from_dict({"rows": rows, "cols": cols, "a_bits": a, "w_bits": w,
                            "acc_bits": acc, "dram_bw_bytes_per_cycle": bw, "dataflow": df})
    assert HwConfig.from_dict(c.to_dict()) == c
    assert c.replace() == c
    with pytest.raises(UserError, match="acc_bits = "):
        c.replace(acc_bits=a + w - 2)  # one bit narrower than a product


def test_find_shipped_config():
    from imsim.hwconfig import find_hw_config, shipped_configs

    # the package's hw_configs is the top-level folder (a link in a checkout, a copy in a wheel)
    assert find_hw_config("edge_16x16_int4").read_bytes() == (HW_DIR / "edge_16x16_int4.yaml").read_bytes()
    assert find_hw_config("default.yaml").read_bytes() == (HW_DIR / "default.yaml").read_bytes()
    assert find_hw_config("no_such_design") is None
    assert [p.name for p in shipped_configs()] == [p.name for p in SHIPPED]


# ---- names, shipped designs, unreadable files (issue 16) ---------------------------------------
def test_name_records_the_overrides_that_change_the_design(tmp_path):
    path = write(tmp_path, "rows: 16\ncols: 16\n", "small.yaml")
    assert load_hw_config(path, ["rows=32", "dataflow=ws"]).name == "small+rows=32+dataflow=ws"
    assert load_hw_config(path, ["rows=16"]).name == "small"  # no change, no suffix
    assert load_hw_config("default", ["rows=16"]).name == "default+rows=16"
    assert load_hw_config(path, ["rows=8", "name=mine"]).name == "mine"


def test_a_mistyped_shipped_name_gets_a_suggestion():
    with pytest.raises(UserError, match=r"edge_16x16_int: no such hardware config \(did you mean "
                                        r"'edge_16x16_int4'\?\)") as info:
        load_hw_config("edge_16x16_int")
    assert "default" in str(info.value)  # lists the shipped designs


def test_a_binary_hw_file_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "blob.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UserError) as info:
        load_hw_config(path)
    assert str(info.value).startswith(f"{path}: not a text hardware config") and "\n" not in str(info.value)
