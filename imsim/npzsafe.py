"""Reading one array of an .npz file without trusting the file: the .npy header first
(shape and dtype, a few hundred bytes), checked against what is expected and against the
memory limit (imsim.limits), and only then the data. A zip bomb declaring 30000 x 30000
float64 in a 12 MB file is refused before anything is allocated.
"""
from __future__ import annotations

import io
import math
import re
import zipfile
import zlib

import numpy as np

from imsim.errors import UserError
from imsim.limits import check_memory

NUMERIC_KINDS = "iuf"  # integers and floats; no bool, complex, strings or objects
_ERRORS = (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError, SyntaxError)


def _member_name(npz: np.lib.npyio.NpzFile, key: str) -> str:
    """The zip member holding array `key` (`key` or `key.npy`): a dict lookup, since a list
    search per read made reading every array of a many-record file quadratic."""
    try:
        npz.zip.getinfo(key)
        return key
    except KeyError:
        return f"{key}.npy"


# the header numpy writes for a plain dtype: parsed with a regex, ~15x faster than numpy's own
# reader (a Python literal_eval per array was 5 % of a trace run); anything else goes to numpy's
_PLAIN_HEADER = re.compile(r"\{'descr': '([^']+)', 'fortran_order': (True|False), 'shape': \(([\d, ]*)\), \}\s*\Z")


def _read_header(fh) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) of the .npy stream `fh`, positioned after it at the data."""
    magic = fh.read(8)
    if len(magic) != 8 or magic[:6] != b"\x93NUMPY":
        raise ValueError("not a .npy array (bad magic string)")
    version = (magic[6], magic[7])
    size_bytes = fh.read(2 if version == (1, 0) else 4)
    if len(size_bytes) not in (2, 4) or version not in ((1, 0), (2, 0), (3, 0)):
        raise ValueError(f"unsupported .npy version {version}")
    raw = fh.read(int.from_bytes(size_bytes, "little"))
    match = _PLAIN_HEADER.match(raw.decode("utf8" if version == (3, 0) else "latin1"))
    if match is None:  # numpy's general reader (public for versions 1.0 and 2.0)
        if version == (3, 0):
            raise ValueError("a .npy 3.0 header with a structured dtype (only integers and floats are read)")
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(io.BytesIO(size_bytes + raw))
        return tuple(int(d) for d in shape), bool(fortran), np.dtype(dtype)
    descr, fortran, dims = match.groups()
    try:
        dtype = np.dtype(descr)
    except TypeError as exc:
        raise ValueError(f"unknown dtype {descr!r}") from exc
    return tuple(int(d) for d in dims.split(",") if d.strip()), fortran == "True", dtype


def _corrupt(source: str, key: str, exc: BaseException) -> UserError:
    why = " ".join(str(exc).split())[:120] or type(exc).__name__
    return UserError(f"{source}: array '{key}' is corrupt or truncated ({why})")


def member_header(npz: np.lib.npyio.NpzFile, key: str, source: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of array `key` from its .npy header alone; UserError naming `source` if unreadable."""
    try:
        with npz.zip.open(_member_name(npz, key)) as fh:
            shape, _, dtype = _read_header(fh)
    except _ERRORS as exc:
        raise _corrupt(source, key, exc) from None
    return shape, dtype


def check_member(npz: np.lib.npyio.NpzFile, key: str, source: str,
                 shape: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """Check array `key`'s header: integer or float dtype, 2-D with no empty dimension, `shape`
    when given, and its size against the memory limit; returns its shape. Every failure is a
    UserError naming `source` and the array."""
    got, dtype = member_header(npz, key, source)
    _check(got, dtype, key, source, shape)
    return got


def _check(got: tuple[int, ...], dtype: np.dtype, key: str, source: str, shape: tuple[int, ...] | None) -> None:
    what = f"{source}: array '{key}'"
    if dtype.kind not in NUMERIC_KINDS or dtype.hasobject:
        raise UserError(f"{what} has dtype {dtype}: must hold integers or floats")
    if len(got) != 2 or min(got) < 1:
        raise UserError(f"{what} has shape {got}: must be a 2-D matrix with at least one row and column")
    if shape is not None and got != tuple(shape):
        raise UserError(f"{what} has shape {got}, the trace header says {tuple(shape)}")
    check_memory(math.prod(got) * dtype.itemsize, f"{what} ({' x '.join(map(str, got))} {dtype})")


def load_member(npz: np.lib.npyio.NpzFile, key: str, source: str,
                shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Array `key` of an open .npz, its header checked as in `check_member` before any data is
    read; the member is opened once (header, then data into a fresh writable array)."""
    try:
        with npz.zip.open(_member_name(npz, key)) as fh:
            got, fortran, dtype = _read_header(fh)
            _check(got, dtype, key, source, shape)
            arr = np.empty(got[::-1] if fortran else got, dtype=dtype)
            view = memoryview(arr.reshape(-1).view(np.uint8))
            if fh.readinto(view) != arr.nbytes:
                raise EOFError(f"{arr.nbytes} data bytes expected")
    except _ERRORS as exc:
        raise _corrupt(source, key, exc) from None
    return arr.T if fortran else arr
