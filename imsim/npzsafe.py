"""Reading one array of an .npz file without trusting the file: the .npy header first
(shape and dtype, a few hundred bytes), checked against what is expected and against the
memory limit (imsim.limits), and only then the data. A zip bomb declaring 30000 x 30000
float64 in a 12 MB file is refused before anything is allocated.
"""
from __future__ import annotations

import math
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


def _read_header(fh) -> tuple[tuple[int, ...], bool, np.dtype]:
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(fh)
    else:
        shape, fortran, dtype = fmt._read_array_header(fh, version)  # noqa: SLF001 (version 3.0)
    return tuple(int(d) for d in shape), bool(fortran), np.dtype(dtype)


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
