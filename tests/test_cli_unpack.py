"""`imsim unpack`: output, --json, and one-line user errors with exit status 2."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from imsim.cli import main


@pytest.fixture
def int_npz(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "g.npz"
    A = rng.integers(-7, 8, (16, 32))
    A[2, 3] = 300
    np.savez(p, A=A, B=rng.integers(-7, 8, (32, 8)))
    return p


def test_json_reports_each_strategy_exact(int_npz, capsys):
    assert main(["unpack", str(int_npz), "--bits", "4", "--strategy", "all", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["strategy"][:4] for r in out["strategies"]] == ["row", "col", "both", "auto"]
    assert out["exact"] and all(r["exact"] for r in out["strategies"])
    assert out["strategies"][0]["unpack_ratio"] == pytest.approx(18 / 16)


def test_quantize_floats(tmp_path, capsys):
    p = tmp_path / "f.npz"
    rng = np.random.default_rng(1)
    np.savez(p, A=rng.normal(size=(8, 16)), B=rng.normal(size=(16, 4)))
    assert main(["unpack", str(p), "--bits", "4", "--strategy", "both", "--beta", "0.9"]) == 0
    assert "True" in capsys.readouterr().out


def _err(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_user_errors(tmp_path, int_npz, capsys):
    f = tmp_path / "f.npz"
    np.savez(f, A=np.ones((2, 3)), B=np.ones((3, 2)))
    assert "--beta" in _err(capsys, ["unpack", str(f), "--bits", "4"])
    assert "levels" in _err(capsys, ["unpack", str(f), "--bits", "4", "--beta", "1", "--levels", "4"])
    assert "quantizer" in _err(capsys, ["unpack", str(f), "--bits", "4", "--beta", "1", "--quantizer", "x"])
    assert "digits" in _err(capsys, ["unpack", str(f), "--bits", "4", "--beta", "1", "--digits", "x"])
    assert "2..16" in _err(capsys, ["unpack", str(int_npz), "--bits", "1"])
    assert "2..16" in _err(capsys, ["unpack", str(int_npz), "--bits", "4", "--w-bits", "17"])
    m = tmp_path / "m.npz"
    np.savez(m, A=np.ones((2, 3), dtype=int), B=np.ones((2, 2), dtype=int))
    assert "shape mismatch" in _err(capsys, ["unpack", str(m), "--bits", "4"])
    n = tmp_path / "n.npz"
    np.savez(n, A=np.ones((2, 3), dtype=int))
    assert "missing array B" in _err(capsys, ["unpack", str(n), "--bits", "4"])
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert "bad.npz" in _err(capsys, ["unpack", str(bad), "--bits", "4"])
    assert "no such file" in _err(capsys, ["unpack", str(tmp_path / "nope.npz"), "--bits", "4"])
    assert "--beta" in _err(capsys, ["unpack", str(int_npz), "--bits", "4", "--beta", "2"])
    assert "--beta" in _err(capsys, ["unpack", str(int_npz), "--bits", "4", "--quantize", "2"])
    assert "strategy" in _err(capsys, ["unpack", str(int_npz), "--bits", "4", "--strategy", "diag"])


def test_format_turns_floats_into_an_exact_integer_gemm(tmp_path, capsys):
    p = tmp_path / "f.npz"
    rng = np.random.default_rng(2)
    np.savez(p, A=rng.normal(size=(8, 16)), B=rng.normal(size=(16, 4)))
    assert main(["unpack", str(p), "--format", "e2m3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["a_bits"] == 5 and out["format"]["format_a"] == "e2m3"  # significand width Y + 2
    assert out["exact"]
    assert "--format" in _err(capsys, ["unpack", str(p), "--format", "e2m3", "--beta", "1"])
    assert "e9m9" in _err(capsys, ["unpack", str(p), "--format", "e9m9"])


def test_old_spelling_still_works_with_one_deprecation_line(tmp_path, capsys):
    p = tmp_path / "f.npz"
    rng = np.random.default_rng(1)
    np.savez(p, A=rng.normal(size=(8, 16)), B=rng.normal(size=(16, 4)))
    assert main(["unpack", str(p), "--bits", "4", "--quantize", "0.9", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["beta"] == 0.9
    assert captured.err.strip() == ("imsim: warning: --quantize is deprecated and will be removed in the next "
                                    "release; use --beta")


def test_a_and_w_bits_split_and_auto_says_none_needed(tmp_path, capsys):
    p = tmp_path / "small.npz"
    np.savez(p, A=np.ones((4, 4), dtype=int), B=np.full((4, 2), 60))
    assert main(["unpack", str(p), "--a-bits", "2", "--w-bits", "8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["a_bits"], out["w_bits"]) == (2, 8) and out["strategies"][0]["unpack_ratio"] == 1.0
    assert main(["unpack", str(p), "--a-bits", "2", "--w-bits", "8"]) == 0
    assert "auto: none needed" in capsys.readouterr().out


def test_a_trace_file_points_at_run_trace(capsys):
    from imsim.trace import bundled_trace_path

    path = str(bundled_trace_path())
    err = _err(capsys, ["unpack", path, "--bits", "4"])
    assert "is an imsim trace" in err and f"imsim run --trace {path}" in err
    assert "imsim run --trace" in _err(capsys, ["unpack", str(Path(path).parent), "--bits", "4"])
def test_paper_floor_flags_and_deprecated_quantize_alias(tmp_path, capsys):
    p = tmp_path / "f.npz"
    rng = np.random.default_rng(2)
    np.savez(p, A=rng.standard_t(3, size=(6, 20)).astype(np.float32), B=rng.standard_t(3, size=(20, 5)))
    argv = ["unpack", str(p), "--bits", "4", "--beta", "0.99", "--levels", "15", "--quantizer", "paper",
            "--digits", "floor", "--strategy", "all", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["levels"] == out["w_levels"] == 15 and out["quantizer"] == "paper" and out["digits"] == "floor"
    assert out["exact"] and {r["strategy"][:4] for r in out["strategies"]} == {"row", "col", "both", "auto"}
    assert all("unpack_ratio" in r and r["digits"] == "floor" for r in out["strategies"])
    assert 0 < out["rel_error"] < 1
    assert main(["unpack", str(p), "--bits", "4", "--quantize", "0.99", "--levels", "15", "--strategy", "all",
                 "--json"]) == 0
    alias = json.loads(capsys.readouterr().out)
    assert alias["beta"] == 0.99 and alias["rel_error"] == out["rel_error"]  # quantization is digit-free
    for a, b in zip(alias["strategies"], out["strategies"]):
        assert a["macs"] <= b["macs"]  # signmag never costlier than floor


def test_levels_alone_quantizes_floats(tmp_path, capsys):
    p = tmp_path / "f.npz"
    rng = np.random.default_rng(3)
    np.savez(p, A=rng.normal(size=(5, 9)), B=rng.normal(size=(9, 4)))
    assert main(["unpack", str(p), "--bits", "2", "--levels", "7", "--strategy", "auto", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["beta"] == 1.0 and out["levels"] == 7 and out["exact"]
