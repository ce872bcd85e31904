"""Trace format: round trips, laziness, dedup, and one-line errors for bad files."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imsim.cli import main
from imsim.errors import UserError
from imsim.trace import FORMAT_VERSION, bundled_trace_path, make_record, open_trace, save_trace
from imsim.trace import format as fmt


def _records(rng, n=3):
    out = []
    for i in range(n):
        M, K, N = rng.integers(1, 9, size=3)
        out.append(make_record(rng.normal(size=(M, K)), rng.normal(size=(K, N)), name=f"g{i}",
                               kind="linear" if i % 2 else "grad_input", phase="fwd" if i % 2 else "bwd",
                               model="m", index=10 + i, meta={"i": i, "tag": "x"}))
    return out


def _one_line_error(path, capsys):
    status = main(["trace", "stats", str(path), "--json"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and str(path) in err
    return err


def test_round_trip_single_file_keeps_metadata_and_values(tmp_path):
    recs = _records(np.random.default_rng(1), 4)
    path = save_trace(tmp_path / "t.npz", recs)
    tr = open_trace(path)
    assert len(tr) == 4 and tr.path == path
    for a, b in zip(recs, tr):
        assert (a.name, a.kind, a.phase, a.model, a.index, a.shape) == (b.name, b.kind, b.phase, b.model, b.index, b.shape)
        assert dict(a.meta) == dict(b.meta)
        for x, y in ((a.A, b.A), (a.B, b.B)):
            assert y.dtype == np.float32 and y.shape == x.shape
            np.testing.assert_allclose(y, x, rtol=2**-10, atol=np.abs(x).max() * 2**-24)
    assert tr.macs == sum(r.macs for r in recs)
    assert [r.name for r in tr[1:3]] == ["g1", "g2"]
    assert [r.name for r in tr.select(phase="bwd")] == ["g0", "g2"]


def test_float32_and_integer_operands_are_exact(tmp_path):
    rng = np.random.default_rng(2)
    A, B = rng.normal(size=(5, 7)).astype(np.float32), rng.normal(size=(7, 3)).astype(np.float32)
    qa, qb = rng.integers(-1000, 1000, size=(4, 6)), rng.integers(-9, 9, size=(6, 2)).astype(np.int8)
    recs = [make_record(A, B, name="f", kind="linear"), make_record(qa, qb, name="q", kind="linear")]
    tr = open_trace(save_trace(tmp_path / "t.npz", recs, float_dtype="float32"))
    assert np.array_equal(tr[0].A, A) and np.array_equal(tr[0].B, B)
    assert np.array_equal(tr[1].A, qa) and np.array_equal(tr[1].B, qb) and tr[1].B.dtype == np.int8


def test_tiny_gradients_survive_scaled_float16(tmp_path):
    rng = np.random.default_rng(3)
    g = (rng.normal(size=(64, 64)) * 1e-7).astype(np.float32)
    assert np.count_nonzero(g.astype(np.float16)) < 0.9 * g.size  # plain float16 would flush many
    tr = open_trace(save_trace(tmp_path / "g.npz", [make_record(g, g.T, name="g", kind="grad_input", phase="bwd")]))
    assert np.count_nonzero(tr[0].A) == np.count_nonzero(g)
    np.testing.assert_allclose(tr[0].A, g, rtol=2**-10)


def test_folder_split_into_parts_keeps_order(tmp_path):
    recs = _records(np.random.default_rng(4), 7)
    out = save_trace(tmp_path / "tr", recs, max_file_bytes=1)
    parts = sorted(out.glob("*.npz"))
    assert len(parts) == 7
    tr = open_trace(out)
    assert [r.name for r in tr] == [r.name for r in recs]
    np.testing.assert_allclose(tr[6].B, recs[6].B, rtol=2**-10)
    with pytest.raises(UserError, match="already holds"):
        save_trace(out, recs)


def test_repeated_and_transposed_operands_are_stored_once(tmp_path):
    rng = np.random.default_rng(5)
    W, X = rng.normal(size=(6, 4)), rng.normal(size=(3, 6))
    recs = [make_record(X, W, name="fwd", kind="linear"),
            make_record(rng.normal(size=(3, 4)), W.T, name="dx", kind="grad_input", phase="bwd"),
            make_record(X.T, rng.normal(size=(3, 5)), name="dw", kind="grad_weight", phase="bwd")]
    path = save_trace(tmp_path / "d.npz", recs)
    with zipfile.ZipFile(path) as zf:
        arrays = [n for n in zf.namelist() if not n.startswith(fmt.HEADER_KEY)]
    assert len(arrays) == 4  # X, W, dY of dx, dY of dw
    tr = open_trace(path)
    np.testing.assert_allclose(tr[1].B, W.T, rtol=2**-10)
    np.testing.assert_allclose(tr[2].A, X.T, rtol=2**-10)


def test_opening_is_lazy_and_records_load_one_array(tmp_path, monkeypatch):
    path = save_trace(tmp_path / "t.npz", _records(np.random.default_rng(6), 5))
    reads = []
    real = fmt._read_member
    monkeypatch.setattr(fmt, "_read_member", lambda p, k, s: reads.append(k) or real(p, k, s))
    tr = open_trace(path)
    assert reads == [] and [r.shape for r in tr]  # metadata needs no array
    tr[3].A
    assert reads == ["r3_A"]


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.integers(-30, 30), st.booleans())
def test_round_trip_any_shape_and_scale(M, K, N, exp, folder):
    import tempfile
    from pathlib import Path

    rng = np.random.default_rng(M * 100 + K * 10 + N)
    A = np.ldexp(rng.normal(size=(M, K)), exp)
    B = rng.integers(-5, 5, size=(K, N))
    with tempfile.TemporaryDirectory() as d:
        target = Path(d) / ("tr" if folder else "t.npz")
        tr = open_trace(save_trace(target, [make_record(A, B, name="x", kind="linear")]))
        np.testing.assert_allclose(tr[0].A, A, rtol=2**-10, atol=np.abs(A).max() * 2**-24)
        assert np.array_equal(tr[0].B, B) and tr[0].shape == (M, K, N)


def test_make_record_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="need A"):
        make_record(np.zeros((2, 3)), np.zeros((4, 2)), name="bad", kind="linear")
    with pytest.raises(ValueError, match="phase"):
        make_record(np.zeros((2, 3)), np.zeros((3, 2)), name="bad", kind="linear", phase="up")


# ------------------------------------------------------------------ bad files


def test_missing_path_and_empty_folder(tmp_path, capsys):
    assert "no such trace" in _one_line_error(tmp_path / "nope.npz", capsys)
    (tmp_path / "empty").mkdir()
    assert "no .npz" in _one_line_error(tmp_path / "empty", capsys)


def test_corrupt_file_gives_one_line_error(tmp_path, capsys):
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(b"this is not a zip archive at all" * 10)
    assert "not a readable .npz" in _one_line_error(bad, capsys)


def test_corrupt_array_member_is_reported_on_load(tmp_path, capsys):
    rng = np.random.default_rng(7)
    path = save_trace(tmp_path / "c.npz", [make_record(rng.normal(size=(40, 40)), rng.normal(size=(40, 4)),
                                                       name="x", kind="linear")], compress=False)
    data = bytearray(path.read_bytes())
    start = data.index(b"r0_A.npy") + 200  # inside the stored array bytes
    data[start:start + 64] = bytes(64)
    path.write_bytes(bytes(data))
    err = _one_line_error(path, capsys)
    assert "r0_A" in err and "corrupt" in err


def test_truncated_file_gives_one_line_error(tmp_path, capsys):
    path = save_trace(tmp_path / "t.npz", _records(np.random.default_rng(8), 3))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "corrupt or truncated" in _one_line_error(path, capsys)


def _write_with_header(path, header, arrays):
    np.savez(path, **{fmt.HEADER_KEY: np.array(json.dumps(header))}, **arrays)


def test_wrong_version_gives_one_line_error(tmp_path, capsys):
    path = tmp_path / "v.npz"
    good = save_trace(tmp_path / "good.npz", _records(np.random.default_rng(9), 1))
    with np.load(good) as z:
        header = json.loads(str(z[fmt.HEADER_KEY]))
        arrays = {k: z[k] for k in z.files if k != fmt.HEADER_KEY}
    header["version"] = FORMAT_VERSION + 1
    _write_with_header(path, header, arrays)
    err = _one_line_error(path, capsys)
    assert f"version {FORMAT_VERSION + 1}" in err and "not supported" in err


def test_foreign_npz_and_npy_give_one_line_errors(tmp_path, capsys):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.ones(3), bias=np.zeros(2))
    assert "not an imsim trace" in _one_line_error(foreign, capsys)
    other = tmp_path / "other.npz"
    _write_with_header(other, {"format": "something-else", "version": 1}, {})
    assert "not an imsim trace" in _one_line_error(other, capsys)
    npy = tmp_path / "array.npz"
    with open(npy, "wb") as fh:
        np.save(fh, np.ones(4))
    assert ".npy" in _one_line_error(npy, capsys)


def test_header_pointing_at_missing_array(tmp_path, capsys):
    path = tmp_path / "m.npz"
    rec = {"name": "x", "kind": "linear", "phase": "fwd", "model": "m", "index": 0, "shape": [2, 2, 2],
           "meta": {}, "A": {"key": "r0_A", "scale_log2": None}, "B": {"key": "r0_B", "scale_log2": None}}
    _write_with_header(path, {"format": fmt.FORMAT_NAME, "version": FORMAT_VERSION, "records": [rec]},
                       {"r0_A": np.zeros((2, 2))})
    assert "missing array 'r0_B'" in _one_line_error(path, capsys)


def test_bundled_trace_is_a_small_real_trace():
    path = bundled_trace_path()
    assert path.is_file() and path.stat().st_size < 6 * 2**20
    tr = open_trace(path)
    assert {r.phase for r in tr} == {"fwd", "bwd"}
    assert {"linear", "grad_input", "grad_weight", "attn_qk", "attn_pv"} <= {r.kind for r in tr}
    assert all(r.model == "all-MiniLM-L6-v2" for r in tr)
    lin = next(r for r in tr if r.kind == "linear")
    assert lin.A.shape == lin.shape[:2] and np.isfinite(lin.A).all() and np.abs(lin.A).max() > 0


def test_power_of_two_scaling_is_ldexp_bit_for_bit():
    from imsim.trace.format import _scale_by_power_of_two

    rng = np.random.default_rng(2)
    x = (rng.standard_normal(4000) * rng.choice([1e-4, 1.0, 1e4], 4000)).clip(-65504, 65504).astype(np.float16).astype(np.float32)
    x[:6] = [0.0, -0.0, 6e-8, -6e-8, 65504.0, -65504.0]
    with np.errstate(over="ignore", under="ignore"):
        for exp in (-300, -160, -149, -140, -127, -126, -60, -13, 0, 7, 100, 113, 127, 128, 200):
            got = x.copy()
            _scale_by_power_of_two(got, exp)
            assert got.dtype == np.float32
            assert np.array_equal(got.view(np.uint32), np.ldexp(x, exp).view(np.uint32)), exp
