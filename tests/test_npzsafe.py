"""imsim.npzsafe: the fast .npy header reader agrees with numpy's own on every plain array, and
load_member returns numpy's array; damaged members are one-line UserErrors."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib import _format_impl as numpy_format

from imsim.errors import UserError
from imsim.npzsafe import _read_header, load_member

DTYPES = ["<f2", "<f4", ">f4", "<f8", "|i1", "<i2", ">i4", "<i8", "|u1", "<u4", "|b1", "<c8"]


def _npy(arr: np.ndarray, version) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version)
    return buf.getvalue()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(DTYPES), st.lists(st.integers(0, 70000), max_size=3), st.booleans(),
       st.sampled_from([(1, 0), (2, 0)]))
def test_header_matches_numpys_reader(dtype, shape, fortran, version):
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": fortran, "shape": tuple(shape)}
    buf = io.BytesIO()
    numpy_format._write_array_header(buf, header, version)  # noqa: SLF001 (numpy's writer, as np.save uses it)
    raw = buf.getvalue() + b"data"
    ours, theirs = io.BytesIO(raw), io.BytesIO(raw)
    ref = numpy_format._read_array_header(theirs, numpy_format.read_magic(theirs))  # noqa: SLF001
    assert _read_header(ours) == (tuple(ref[0]), bool(ref[1]), np.dtype(ref[2]))
    assert ours.tell() == theirs.tell()  # positioned at the data


def test_structured_and_odd_headers_use_numpys_reader():
    for arr in (np.zeros((2, 2), dtype=[("a", "<i4"), ("b", "<f8")]), np.zeros(3, dtype="U4")):
        raw = _npy(arr, (1, 0))
        theirs = io.BytesIO(raw)
        ref = numpy_format._read_array_header(theirs, numpy_format.read_magic(theirs))  # noqa: SLF001
        assert _read_header(io.BytesIO(raw)) == (tuple(ref[0]), bool(ref[1]), np.dtype(ref[2]))


def _npz(tmp_path, **members: bytes):
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for name, raw in members.items():
            zf.writestr(f"{name}.npy", raw)
    return np.load(path)


@pytest.mark.parametrize("arr", [np.arange(12, dtype=">f4").reshape(3, 4),
                                 np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
                                 np.ones((2, 5), np.float16)])
def test_load_member_returns_numpys_array(tmp_path, arr):
    with _npz(tmp_path, a=_npy(arr, (1, 0))) as npz:
        got = load_member(npz, "a", "x.npz")
        assert got.dtype == arr.dtype and np.array_equal(got, npz["a"]) and got.flags.writeable


@pytest.mark.parametrize("raw, needle", [
    (b"\x93NUMPZ\x01\x00" + b"x" * 40, "bad magic"),
    (_npy(np.zeros((4, 4)), (1, 0))[:-8], "data bytes expected"),
    (b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'", "corrupt"),
])
def test_damaged_members_are_one_line_errors(tmp_path, raw, needle):
    with _npz(tmp_path, a=raw) as npz, pytest.raises(UserError) as err:
        load_member(npz, "a", "x.npz")
    msg = str(err.value)
    assert msg.startswith("x.npz: array 'a' is corrupt or truncated") and needle in msg and "\n" not in msg
