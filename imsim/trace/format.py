"""The imsim trace format: an ordered list of GEMM records (A, B and metadata), stored as `.npz`.

A trace is one `.npz` file or a folder of them (read in sorted file-name order). Each file
holds the arrays of its records plus one header entry `__imsim_trace__`: a 0-d string array
with JSON ``{"format": "imsim-trace", "version": 1, "records": [...]}``. Every header record
gives name, kind, phase (`fwd`/`bwd`), model, index (position in the original capture),
meta (free JSON), shape (M, K, N) and, for A and B, the array key, `scale_log2` and `transpose`. The writer stores a
tensor once per file: an operand equal to an earlier one (or to its transpose, e.g. a weight W^T
in forward and W in grad_input) refers to the same key (with `transpose: true`).

Float operands are stored as float16 scaled per tensor by a power of two (so the largest
|x| lands in [2^14, 2^15)): gradients are tiny and plain float16 would flush many of them to
zero. Loading multiplies back by 2^scale_log2 exactly and returns float32. Integer operands
(already quantized) are stored as they are; `float_dtype="float32"` stores floats unscaled.

Loading is lazy: opening a trace reads only the headers; `record.A` / `record.B` read one
array from disk each time (np.load's NpzFile reads single members), so a large trace never
sits in memory whole. Malformed files raise `UserError` naming the file and what is wrong.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from imsim.errors import UserError, shown

FORMAT_NAME = "imsim-trace"
FORMAT_VERSION = 1
HEADER_KEY = "__imsim_trace__"
PHASES = ("fwd", "bwd")
FLOAT_DTYPES = ("float16", "float32")
_F16_TOP_LOG2 = 14  # scaled float16 tensors have max |x| in [2^14, 2^15)
MAX_SCALE_LOG2 = 300  # |scale_log2|: float32 spans 2^-149..2^128, the writer stays far inside
MAX_HEADER_BYTES = 64 << 20  # the header member (UTF-32 JSON text, ~1600 bytes per record): 40000 records
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError)


class ArraySource(Protocol):
    """Where a record's operands come from (memory or a file member)."""

    def load(self, which: str) -> np.ndarray:  # which: "A" or "B"
        ...


@dataclass(frozen=True)
class InMemory:
    """Operands held in memory (read-only arrays)."""

    A: np.ndarray = field(repr=False)
    B: np.ndarray = field(repr=False)

    def load(self, which: str) -> np.ndarray:
        return self.A if which == "A" else self.B


@dataclass(frozen=True)
class _Member:
    """One operand stored in an .npz file: key, power-of-two scale, expected shape."""

    key: str
    scale_log2: int | None
    shape: tuple[int, int]
    transpose: bool = False


@functools.lru_cache(maxsize=8)
def _npz(path: str, mtime_ns: int, size: int, pid: int) -> np.lib.npyio.NpzFile:
    """An open NpzFile, cached: reading a zip's directory costs O(members), so reopening it
    for every array would make a many-record file quadratic. Keyed by mtime and size (a
    rewritten file is reopened) and process id (forked workers never share a file offset).
    Only the directory is held; arrays are read on access (an evicted NpzFile closes its file
    when it is collected)."""
    return load_npz(path)


def load_npz(path: str | Path) -> np.lib.npyio.NpzFile:
    """np.load of a .npz, except that a file which is not a readable zip (truncated, corrupt)
    leaves no open file behind: np.load hands its handle to NpzFile before the zip directory
    is read, and does not close it when that fails. The NpzFile owns (and closes) the file."""
    fh = open(path, "rb")  # noqa: SIM115 (owned by the NpzFile returned)
    try:
        return np.lib.npyio.NpzFile(fh, own_fid=True, allow_pickle=False)
    except BaseException:
        fh.close()
        raise


def _open_npz(path: Path) -> np.lib.npyio.NpzFile:
    st = path.stat()
    return _npz(str(path), st.st_mtime_ns, st.st_size, os.getpid())


def _read_member(path: Path, key: str, shape: tuple[int, int]) -> np.ndarray:
    """The member's .npy header checked (dtype, shape, memory) before its data is read."""
    from imsim.npzsafe import load_member

    return load_member(_open_npz(path), key, str(path), shape)


def _scale_by_power_of_two(arr: np.ndarray, exp: int) -> None:
    """arr *= 2^exp in place (float32), as np.ldexp gives it: where 2^exp is a normal float32
    one multiplication (a single correctly rounded product, ~50x faster than ldexp), else ldexp."""
    if -126 <= exp <= 127:
        arr *= np.float32(2.0 ** exp)
    else:
        np.ldexp(arr, exp, out=arr)


@dataclass(frozen=True)
class NpzArrays:
    """Operands read lazily from an .npz trace file, one member per access."""

    path: Path
    a: _Member
    b: _Member

    def load(self, which: str) -> np.ndarray:
        from imsim.limits import check_gemm

        member = self.a if which == "A" else self.b
        (M, K), N = self.a.shape, self.b.shape[1]
        check_gemm(M, K, N, f"{self.path}: array '{member.key}'")
        want = member.shape[::-1] if member.transpose else member.shape
        try:
            arr = _read_member(self.path, member.key, want)
        except _READ_ERRORS as exc:
            raise UserError(f"{self.path}: array '{member.key}' is corrupt or truncated ({_why(exc)})") from None
        scaled = member.scale_log2 is not None
        if scaled:  # to float32 (exact, NaN/inf kept) in the layout asked for, one copy
            arr = (arr.T if member.transpose else arr).astype(np.float32, order="C")
        elif member.transpose:
            arr = np.ascontiguousarray(arr.T)
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
            raise UserError(f"{self.path}: array '{member.key}' (operand {which}) holds {bad} NaN/inf entries; "
                            f"operands must be finite")
        if scaled:
            with np.errstate(over="ignore"):  # an overflow to inf is reported by the caller's finite check
                _scale_by_power_of_two(arr, member.scale_log2)
        arr.setflags(write=False)
        return arr


@dataclass(frozen=True)
class GemmRecord:
    """One GEMM C = A·B (A: M x K, B: K x N) with metadata; A and B load lazily.

    name: op name (e.g. module path); kind: linear, attn_qk, attn_pv, grad_input, grad_weight, ...;
    phase: 'fwd' or 'bwd'; model: model name; index: position in the original capture;
    meta: free JSON-able details (aten op, batch index, bias, ...); shape: (M, K, N).
    """

    name: str
    kind: str
    phase: str
    model: str
    index: int
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    shape: tuple[int, int, int] = (0, 0, 0)
    source: ArraySource | None = field(default=None, repr=False, hash=False, compare=False)

    @property
    def A(self) -> np.ndarray:
        """Left operand, M x K (float32 for float traces, int for quantized ones)."""
        return self._load("A")

    @property
    def B(self) -> np.ndarray:
        """Right operand, K x N."""
        return self._load("B")

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(A, B), both loaded."""
        return self.A, self.B

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the GEMM: M*K*N."""
        M, K, N = self.shape
        return M * K * N

    def _load(self, which: str) -> np.ndarray:
        if self.source is None:
            raise UserError(f"GEMM record {self.name!r} holds metadata only, no arrays")
        return self.source.load(which)

    def header(self) -> dict[str, Any]:
        """Metadata as stored in a trace header (no arrays)."""
        return {"name": self.name, "kind": self.kind, "phase": self.phase, "model": self.model,
                "index": self.index, "shape": list(self.shape), "meta": dict(self.meta)}


def make_record(A: np.ndarray, B: np.ndarray, *, name: str, kind: str, phase: str = "fwd",
                model: str = "", index: int = 0, meta: Mapping[str, Any] | None = None) -> GemmRecord:
    """An in-memory GemmRecord from two 2-D arrays (copied, read-only). Raises ValueError on bad input."""
    A = np.array(A, copy=True)
    B = np.array(B, copy=True)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
        raise ValueError(f"{name}: need A (M x K) and B (K x N), got {A.shape} and {B.shape}")
    if phase not in PHASES:
        raise ValueError(f"{name}: phase {phase!r} must be one of {PHASES}")
    for arr in (A, B):
        if arr.dtype.kind not in "fiu":
            raise ValueError(f"{name}: dtype {arr.dtype} is not a float or integer type")
        arr.setflags(write=False)
    json.dumps(dict(meta or {}))  # meta must be JSON-able
    return GemmRecord(name=name, kind=kind, phase=phase, model=model, index=int(index),
                      meta=MappingProxyType(dict(meta or {})), shape=(A.shape[0], A.shape[1], B.shape[1]),
                      source=InMemory(A, B))


@dataclass(frozen=True)
class Trace(Sequence):
    """An ordered, lazily loaded list of GemmRecords; `path` is where it was read from (or None);
    `meta`: trace-level JSON metadata (e.g. provenance, skipped_ops of a capture; {} if none)."""

    records: tuple[GemmRecord, ...]
    path: Path | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return Trace(self.records[i], self.path, self.meta)
        return self.records[i]

    def __iter__(self) -> Iterator[GemmRecord]:
        return iter(self.records)

    def select(self, kind: str | None = None, phase: str | None = None,
               name_contains: str | None = None) -> "Trace":
        """The records matching every given filter, in order."""
        keep = [r for r in self.records
                if (kind is None or r.kind == kind) and (phase is None or r.phase == phase)
                and (name_contains is None or name_contains in r.name)]
        return Trace(tuple(keep), self.path, self.meta)

    @property
    def macs(self) -> int:
        """Total multiply-accumulates of all GEMMs."""
        return sum(r.macs for r in self.records)


# ---------------------------------------------------------------- writing


def _encode(arr: np.ndarray, float_dtype: str) -> tuple[np.ndarray, int | None]:
    """Array as stored plus its scale_log2 (None when stored as it is)."""
    if arr.dtype.kind in "iub":
        return np.ascontiguousarray(arr), None
    arr = np.asarray(arr, dtype=np.float32)
    if float_dtype == "float32":
        return np.ascontiguousarray(arr), None
    finite = np.abs(arr[np.isfinite(arr)])
    amax = float(finite.max()) if finite.size else 0.0
    exp = math.frexp(amax)[1] - 1 - _F16_TOP_LOG2 if amax > 0 else 0
    return np.ldexp(arr, -exp).astype(np.float16), int(exp)


def _digest(arr: np.ndarray, exp: int | None) -> bytes:
    """Content hash of an array as stored (dtype, shape, scale, C-order bytes)."""
    h = hashlib.blake2b(f"{arr.dtype.str}{arr.shape}{exp}".encode(), digest_size=20)
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.digest()


class TraceWriter:
    """Streams records into a trace: one `.npz` file, or a folder of `part-NNNNN.npz` files.

    A path ending in `.npz` gives one file; any other path is a folder, split into files of
    about `max_file_bytes` (uncompressed) each. Use as a context manager or call close().
    """

    def __init__(self, path: str | Path, *, float_dtype: str = "float16", compress: bool = True,
                 max_file_bytes: int = 64 << 20, meta: Mapping[str, Any] | None = None) -> None:
        if float_dtype not in FLOAT_DTYPES:
            raise UserError(f"float_dtype = {float_dtype!r}: must be one of {', '.join(FLOAT_DTYPES)}")
        self.path = Path(path)
        self.float_dtype = float_dtype
        self.compression = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        self.max_file_bytes = max_file_bytes
        self.single = self.path.suffix == ".npz"
        self.meta = dict(meta or {})
        json.dumps(self.meta)  # must be JSON-able
        self._zip: zipfile.ZipFile | None = None
        self._headers: list[dict[str, Any]] = []
        self._stored: dict[bytes, tuple[str, bool]] = {}  # digest -> (key, transposed) in this file
        self._bytes = 0
        self._part = 0
        self._count = 0
        self._closed = False
        if self.single:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        else:
            if self.path.exists() and any(self.path.glob("*.npz")):
                raise UserError(f"{self.path}: folder already holds .npz files; pick an empty or new folder")
            self.path.mkdir(parents=True, exist_ok=True)

    def _open(self) -> zipfile.ZipFile:
        if self._zip is None:
            target = self.path if self.single else self.path / f"part-{self._part:05d}.npz"
            self._zip = zipfile.ZipFile(target, "w", compression=self.compression, allowZip64=True)
        return self._zip

    def _put(self, zf: zipfile.ZipFile, key: str, arr: np.ndarray) -> None:
        with zf.open(f"{key}.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array(fh, arr, allow_pickle=False)

    def add(self, record: GemmRecord) -> None:
        """Append one record (its arrays are loaded, encoded and written now)."""
        zf = self._open()
        n = len(self._headers)
        head = record.header()
        for which, arr in (("A", record.A), ("B", record.B)):
            if arr.ndim != 2:
                raise UserError(f"{record.name}: operand {which} must be 2-D, got shape {arr.shape}")
            stored, exp = _encode(arr, self.float_dtype)
            seen = self._stored.get(_digest(stored, exp))
            if seen is not None:  # same tensor (or its transpose) already in this file
                key, transpose = seen
            else:
                key, transpose = f"r{n}_{which}", False
                self._put(zf, key, stored)
                self._bytes += stored.nbytes
                self._stored[_digest(stored, exp)] = (key, False)
                if stored.shape[0] != stored.shape[1] or not np.array_equal(stored, stored.T):
                    self._stored[_digest(stored.T, exp)] = (key, True)
            head[which] = {"key": key, "scale_log2": exp, "dtype": str(stored.dtype), "transpose": transpose}
        self._headers.append(head)
        self._count += 1
        if not self.single and self._bytes >= self.max_file_bytes:
            self._flush()

    def _flush(self) -> None:
        if self._zip is None:
            return
        header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "records": self._headers}
        if self.meta:
            header["meta"] = self.meta
        self._put(self._zip, HEADER_KEY, np.array(json.dumps(header)))
        self._zip.close()
        self._zip, self._headers, self._bytes, self._stored = None, [], 0, {}
        self._part += 1

    def close(self) -> Path:
        """Finish the last file; returns the trace path (closing twice is harmless)."""
        if self._closed:
            return self.path
        self._closed = True
        if self.single or self._count == 0 or self._zip is not None:
            self._open()
            self._flush()
        return self.path

    def __enter__(self) -> "TraceWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def save_trace(path: str | Path, records: Iterable[GemmRecord], *, float_dtype: str = "float16",
               compress: bool = True, max_file_bytes: int = 64 << 20, meta: Mapping[str, Any] | None = None) -> Path:
    """Write records to `path` (`.npz` file, or a folder of them); returns the path. `meta`
    (default: the trace's own `meta` when `records` is a Trace) is stored in every file's header."""
    if meta is None:
        meta = getattr(records, "meta", None)
    writer = TraceWriter(path, float_dtype=float_dtype, compress=compress, max_file_bytes=max_file_bytes,
                         meta=meta)
    for record in records:
        writer.add(record)
    return writer.close()


# ---------------------------------------------------------------- reading


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:160]


def _bad(path: Path, what: str) -> UserError:
    return UserError(f"{path}: {what}")


def _check_record(path: Path, i: int, rec: Any, files: set[str]) -> GemmRecord:
    if not isinstance(rec, dict):
        raise _bad(path, f"malformed trace header: record {i} is not an object")
    need = ("name", "kind", "phase", "model", "index", "shape", "meta", "A", "B")
    missing = [k for k in need if k not in rec]
    if missing:
        raise _bad(path, f"malformed trace header: record {i} lacks {', '.join(missing)}")
    name = rec["name"]
    if rec["phase"] not in PHASES:
        raise _bad(path, f"record {i} ({name}): phase = {rec['phase']!r}: must be fwd or bwd")
    shape = rec["shape"]
    if (not isinstance(shape, list) or len(shape) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in shape)):
        raise _bad(path, f"record {i} ({name}): shape = {shape!r}: must be [M, K, N], non-negative integers")
    M, K, N = shape
    members = []
    for which, mshape in (("A", (M, K)), ("B", (K, N))):
        ent = rec[which]
        if not isinstance(ent, dict) or not isinstance(ent.get("key"), str):
            raise _bad(path, f"malformed trace header: record {i} ({name}) has no array key for {which}")
        if ent["key"] not in files:
            raise _bad(path, f"truncated or malformed trace: record {i} ({name}) refers to missing array "
                             f"'{ent['key']}'")
        exp = ent.get("scale_log2")
        if exp is not None and (not isinstance(exp, int) or isinstance(exp, bool) or abs(exp) > MAX_SCALE_LOG2):
            raise _bad(path, f"record {i} ({name}): {which}.scale_log2 = {shown(exp)}: must be an integer in "
                             f"-{MAX_SCALE_LOG2}..{MAX_SCALE_LOG2} or null")
        transpose = ent.get("transpose", False)
        if not isinstance(transpose, bool):
            raise _bad(path, f"record {i} ({name}): {which}.transpose = {transpose!r}: must be true or false")
        members.append(_Member(ent["key"], exp, mshape, transpose))
    if not isinstance(rec["index"], int) or isinstance(rec["index"], bool):
        raise _bad(path, f"record {i} ({name}): index = {shown(rec['index'])}: must be an integer")
    meta = rec["meta"] if isinstance(rec["meta"], dict) else {}
    return GemmRecord(name=str(name), kind=str(rec["kind"]), phase=rec["phase"], model=str(rec["model"]),
                      index=int(rec["index"]), meta=MappingProxyType(meta), shape=(M, K, N),
                      source=NpzArrays(path, members[0], members[1]))


def read_header(path: Path) -> list[GemmRecord]:
    """The records of one .npz trace file (metadata and lazy array sources)."""
    return _read_header(path)[0]


def _read_header(path: Path) -> tuple[list[GemmRecord], dict[str, Any]]:
    """(records, trace-level meta) of one .npz trace file."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise _bad(path, f"cannot read ({exc.strerror})") from None
    if magic.startswith(b"\x93NUMPY"):
        raise _bad(path, "is a single .npy array, not an imsim trace (.npz)")
    if not magic.startswith(b"PK"):
        raise _bad(path, f"not a readable .npz file: corrupt, or not a zip archive at all (starts with {magic!r})")
    try:
        npz = load_npz(path)
    except _READ_ERRORS as exc:
        raise _bad(path, f"not a readable .npz file: corrupt or truncated ({_why(exc)})") from None
    with npz:
        files = set(npz.files)
        if HEADER_KEY not in files:
            held = ", ".join(sorted(files)[:5]) or "nothing"
            raise _bad(path, f"not an imsim trace: no '{HEADER_KEY}' entry (it holds {held})")
        size = npz.zip.getinfo(f"{HEADER_KEY}.npy").file_size
        if size > MAX_HEADER_BYTES:  # judged from the zip directory, before anything is read
            raise _bad(path, f"trace header of {size} bytes is larger than {MAX_HEADER_BYTES} "
                             f"(about 1600 bytes per record); not an imsim trace")
        try:
            raw = npz[HEADER_KEY]
        except _READ_ERRORS as exc:
            raise _bad(path, f"trace header is corrupt or truncated ({_why(exc)})") from None
    try:
        header = json.loads(str(raw.item()) if raw.ndim == 0 else "")
    except (ValueError, TypeError) as exc:
        raise _bad(path, f"trace header is not valid JSON ({_why(exc)})") from None
    except RecursionError:
        raise _bad(path, "trace header is not valid JSON (nested too deeply)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        fmt = header.get("format") if isinstance(header, dict) else None
        raise _bad(path, f"not an imsim trace: header format = {fmt!r}, expected {FORMAT_NAME!r}")
    version = header.get("version")
    if version != FORMAT_VERSION:
        raise _bad(path, f"trace format version {version!r} is not supported (this imsim reads version "
                         f"{FORMAT_VERSION}); re-capture the trace or use a matching imsim")
    records = header.get("records")
    if not isinstance(records, list):
        raise _bad(path, "malformed trace header: 'records' is not a list")
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise _bad(path, "malformed trace header: 'meta' is not an object")
    return [_check_record(path, i, rec, files) for i, rec in enumerate(records)], meta


def open_trace(path: str | Path) -> Trace:
    """Open a trace (`.npz` file or folder of them) lazily: only headers are read here."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == ".npz" and p.is_file())
        if not files:
            raise _bad(path, "folder holds no .npz trace files")
    elif path.is_file():
        files = [path]
    else:
        raise _bad(path, "no such trace file or folder")
    records: list[GemmRecord] = []
    meta: dict[str, Any] = {}
    for f in files:
        recs, part_meta = _read_header(f)
        records.extend(recs)
        meta = meta or part_meta
    return Trace(tuple(records), path, MappingProxyType(meta))
