"""The bad-input corpus through the real CLI (issue 17 items 3-6).

Every case runs `python -m imsim ...` in a subprocess (PYTHONPATH = this repository) and must
end with exit status 2 and exactly ONE line on stderr that names the file (and the field
where there is one), no traceback, well inside a time bound (a hang guard). Small text cases
live in tests/data/bad/ (README.md there says what each probes); big or binary ones (a zip
bomb, a 60 MB hex file, binary configs, hostile .npz operands) are built here at test time.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BAD = Path(__file__).resolve().parent / "data" / "bad"
HW = str(REPO / "hw_configs" / "default.yaml")
HANG_GUARD_S = 60  # generous: the slowest case takes a few seconds on a loaded 2-core machine
MAX_LINE = 1000 + len("imsim: error: ")  # errors.MAX_MESSAGE plus the prefix


def run_cli(argv: list[str], cwd: Path, code: str | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """Run the CLI (`python -m imsim`, or `python -c code` with the same argv) in a subprocess."""
    env = dict(os.environ, PYTHONPATH=str(REPO), IMSIM_NO_PROGRESS="1")
    env.pop("IMSIM_MAX_MEMORY_GIB", None)
    launcher = ["-c", code] if code else ["-m", "imsim"]
    start = time.monotonic()
    proc = subprocess.run([sys.executable, *launcher, *argv], cwd=cwd, env=env, capture_output=True,
                          timeout=HANG_GUARD_S)  # bytes: text mode would turn a bar's \r into \n
    proc.stdout, proc.stderr = (proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))
    return proc, time.monotonic() - start


def displayed_lines(stderr: str) -> list[str]:
    """The lines a terminal shows: text a carriage return went back over (a progress bar the
    error path cleared) is overwritten."""
    return [line.rsplit("\r", 1)[-1] for line in stderr.rstrip("\n").split("\n") if line.strip()]


# ------------------------------------------------------------------------------ builders

def _binary(path: Path) -> Path:
    """A file of binary junk (invalid UTF-8, NUL bytes), like a renamed image."""
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 40)
    return path


def _zip_bomb(path: Path) -> None:
    """FILE.npz whose A.npy declares 30000 x 30000 float64 (7.2 GB) in about 7 MB: one
    deflate block of zeros repeated (full flushes keep blocks independent). The zip is
    written by hand (zip64) so nothing of the declared size is ever built in memory."""
    header = bytearray(b"\x93NUMPY\x01\x00")
    text = "{'descr': '<f8', 'fortran_order': False, 'shape': (30000, 30000), }"
    text += " " * (-(len(header) + 2 + len(text) + 1) % 64) + "\n"
    header += struct.pack("<H", len(text)) + text.encode()
    size = len(header) + 30000 * 30000 * 8
    comp = zlib.compressobj(1, zlib.DEFLATED, -15)
    first = comp.compress(bytes(header)) + comp.flush(zlib.Z_FULL_FLUSH)
    chunk_size = 1 << 20
    zero_block = comp.compress(bytes(chunk_size)) + comp.flush(zlib.Z_FULL_FLUSH)
    blocks, rest = divmod(size - len(header), chunk_size)
    tail = comp.compress(bytes(rest)) + comp.flush(zlib.Z_FINISH)
    csize = len(first) + blocks * len(zero_block) + len(tail)
    name = b"A.npy"
    small = _npy_bytes(np.ones((30000, 1), np.int8))  # B fits A's K, so only A's size is wrong
    with open(path, "wb") as fh:
        # member A.npy (zip64 sizes in the extra field; CRC left 0: a bomb need not be honest)
        local_a = fh.tell()
        extra = struct.pack("<HHQQ", 1, 16, size, csize)
        fh.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF,
                             len(name), len(extra)) + name + extra)
        fh.write(first)
        for _ in range(blocks):
            fh.write(zero_block)
        fh.write(tail)
        # member B.npy, stored
        local_b = fh.tell()
        fh.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, zlib.crc32(small), len(small),
                             len(small), 5, 0) + b"B.npy" + small)
        central = fh.tell()
        extra_c = struct.pack("<HHQQQ", 1, 24, size, csize, local_a)
        fh.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 8, 0, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF,
                             len(name), len(extra_c), 0, 0, 0, 0, 0xFFFFFFFF) + name + extra_c)
        fh.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, zlib.crc32(small),
                             len(small), len(small), 5, 0, 0, 0, 0, 0, local_b) + b"B.npy")
        end = fh.tell()
        fh.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 2, 2, end - central, central))
        fh.write(struct.pack("<IIQI", 0x07064B50, 0, end, 1))
        fh.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2, 2, end - central, central, 0))


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _gemm_npz(A, B) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        np.savez(tmp / "gemm.npz", A=np.asarray(A), B=np.asarray(B))
    return make


def _trace_with_A(bad_A: np.ndarray | None, shape=(2, 3)) -> Callable[[Path], None]:
    """A valid one-record trace whose A member is then replaced by `bad_A` (same key)."""

    def make(tmp: Path) -> None:
        from imsim.trace.format import HEADER_KEY, make_record, save_trace

        rng = np.random.default_rng(0)
        A = rng.normal(size=shape).astype(np.float32)
        B = rng.normal(size=(shape[1], 2)).astype(np.float32)
        good = tmp / "good.npz"
        save_trace(good, [make_record(A, B, name="g0", kind="linear")], float_dtype="float32")
        with zipfile.ZipFile(good) as zin:
            header = json.loads(np.load(good, allow_pickle=False)[HEADER_KEY].item())
            key = header["records"][0]["A"]["key"]
            with zipfile.ZipFile(tmp / "trace.npz", "w") as zout:
                for info in zin.infolist():
                    data = zin.read(info.filename)
                    if info.filename == f"{key}.npy" and bad_A is not None:
                        data = _npy_bytes(bad_A)
                    zout.writestr(info.filename, data)
    return make


def _trace_header(edit: Callable[[dict], object]) -> Callable[[Path], None]:
    """A valid one-record trace whose JSON header is replaced by edit(header) (a dict, or text),
    compressed, so a huge header costs little disk."""

    def make(tmp: Path) -> None:
        from imsim.trace.format import HEADER_KEY

        _trace_with_A(None)(tmp)
        header = json.loads(np.load(tmp / "trace.npz", allow_pickle=False)[HEADER_KEY].item())
        new = edit(header)
        text = new if isinstance(new, str) else json.dumps(header)
        with zipfile.ZipFile(tmp / "trace.npz") as zin:
            members = {n: zin.read(n) for n in zin.namelist()}
        members[f"{HEADER_KEY}.npy"] = _npy_bytes(np.array(text))
        with zipfile.ZipFile(tmp / "trace.npz", "w", zipfile.ZIP_DEFLATED) as zout:
            for name, data in members.items():
                zout.writestr(name, data)
    return make


def _set_record(key: str, value: object) -> Callable[[dict], None]:
    def edit(header: dict) -> None:
        header["records"][0][key] = value
    return edit


def _scale(header: dict) -> None:
    header["records"][0]["A"]["scale_log2"] = 10 ** 6


def _huge_header(header: dict) -> None:
    header["padding"] = "x" * 20_000_000  # 80 MB as the UTF-32 text numpy stores


def _export(tmp: Path) -> Path:
    """An `imsim rtl export` folder of a small GEMM (golden psum values)."""
    out = tmp / "export"
    proc, _ = run_cli(["rtl", "export", "--hw", HW, "--gemm", "4,4,4", "--out", str(out)], tmp)
    assert proc.returncode == 0, proc.stderr
    return out


def _hex_60mb(tmp: Path) -> None:
    _export(tmp)
    line = b"0000000a\n"
    with open(tmp / "results.hex", "wb") as fh:
        block = line * (1 << 16)
        for _ in range(60_000_000 // len(block) + 1):
            fh.write(block)


def _hex_huge_token(tmp: Path) -> None:
    _export(tmp)
    (tmp / "results.hex").write_bytes(b"f" * 20_000_000 + b"\n")


def _tampered_manifest(width: int) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        out = _export(tmp)
        manifest = json.loads((out / "manifest.json").read_text())
        _set_widths(manifest, width)
        (out / "manifest.json").write_text(json.dumps(manifest))
        (tmp / "results.hex").write_text("0\n" * 16)
    return make


def _set_widths(obj, width: int) -> None:
    """Every '*width*' / '*bits*' integer field in the manifest set to `width`."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, int) and not isinstance(v, bool) and ("width" in k or "bits" in k):
                obj[k] = width
            else:
                _set_widths(v, width)
    elif isinstance(obj, list):
        for v in obj:
            _set_widths(v, width)


def _corrupt_tables(tmp: Path) -> None:
    out = tmp / "sweep"
    out.mkdir()
    (out / "results.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    (out / "totals.parquet").write_bytes(b"PAR1 nor is this PAR1")


def _finished_sweep(tmp: Path) -> None:
    proc, _ = run_cli(["sweep", str(BAD / "sweep_ok_tiny.yaml"), "--out", str(tmp / "sweep"), "--workers", "0",
                       "--no-progress"], tmp)
    assert proc.returncode == 0, proc.stderr


def _file(name: str, text: str = "not a folder\n") -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        (tmp / name).write_text(text)
    return make


def _topology(layers: int, m: int) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        (tmp / "net.csv").write_text("Layer name,M,N,K,\n" + "".join(f"L{i},{m},{m},{m},\n" for i in range(layers)))
    return make


def _silent_listener(tmp: Path) -> dict[str, str]:
    """A TCP port that accepts connections (the kernel's backlog) but never speaks: not a Dask
    scheduler. Closed when the test ends."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    _OPEN.append(sock)
    return {"{port}": str(sock.getsockname()[1])}


_OPEN: list = []


def _binaries(tmp: Path) -> None:
    for name in ("spec.yaml", "hw.yaml", "tpu.cfg", "net.csv", "results.hex"):
        _binary(tmp / name)


# ENOSPC from the second fsync on (the manifest commits, the first part does not): a full disk
# mid-sweep, simulated in-process so it needs no root and no tmpfs.
DISK_FULL = """
import errno, os, sys
_calls = [0]
_fsync = os.fsync
def _full(fd):
    _calls[0] += 1
    if _calls[0] > 1:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return _fsync(fd)
os.fsync = _full
from imsim.cli import main
sys.exit(main(sys.argv[1:]))
"""


# The folder given first (then dropped from argv) behaves as read-only media: creating,
# writing, renaming or deleting anything under it fails with EROFS (simulated in-process: a
# root user ignores chmod). Reading works.
READ_ONLY = """
import builtins, errno, io, os, sys
root = os.path.realpath(sys.argv.pop(1))
def _inside(path):
    try:
        return os.path.realpath(os.fspath(path)).startswith(root)
    except TypeError:
        return False
def _refuse(path):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
def _guard(real, writes=lambda *a, **k: True):
    def wrapped(path, *args, **kwargs):
        if _inside(path) and writes(*args, **kwargs):
            _refuse(path)
        return real(path, *args, **kwargs)
    return wrapped
_writing_mode = lambda mode="r", *a, **k: any(c in str(mode) for c in "wax+")
_writing_flags = lambda flags=0, *a, **k: bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
builtins.open = io.open = _guard(builtins.open, _writing_mode)
os.open = _guard(os.open, _writing_flags)
for name in ("mkdir", "makedirs", "unlink", "remove", "rmdir", "rename", "replace"):
    setattr(os, name, _guard(getattr(os, name)))
from imsim.cli import main
sys.exit(main(sys.argv[1:]))
"""


# --------------------------------------------------------------------------------- cases

@dataclass(frozen=True)
class Case:
    """argv with {bad} (tests/data/bad) and {tmp} (the case's folder); `names`: text the one
    stderr line must contain (the file, the field); `make` builds files in {tmp} first."""

    id: str
    argv: tuple[str, ...]
    names: tuple[str, ...]
    make: Callable[[Path], object] | None = None  # may return more {placeholder}: value pairs
    code: str | None = None  # python -c launcher instead of -m imsim
    probes: str = field(default="", compare=False)


def _sweep(spec: str, *names: str, dry: bool = False) -> tuple[tuple[str, ...], tuple[str, ...]]:
    argv = ("sweep", spec, "--out", "{tmp}/out", "--workers", "0", "--no-progress", *(("--dry-run",) if dry else ()))
    return argv, names


def _c(id: str, argv, names, **kw) -> Case:
    return Case(id, tuple(argv), tuple(names), **kw)


DEEP = "[" * 5000 + "]" * 5000

CASES = [
    # ---- item 3: unbounded work on hostile input
    _c("hw-alias-bomb", ["run", "--hw", "{bad}/hw_alias_bomb.yaml", "--gemm", "4,4,4"], ["hw_alias_bomb.yaml", "alias"]),
    _c("sweep-alias-bomb-description", *_sweep("{bad}/sweep_alias_bomb_description.yaml", "sweep_alias_bomb_description.yaml", "alias")),
    _c("sweep-1e9-points", *_sweep("{bad}/sweep_1e9_points.yaml", "sweep_1e9_points.yaml", "1000000000", "--max-points")),
    _c("sweep-1e9-points-dry-run", *_sweep("{bad}/sweep_1e9_points.yaml", "sweep_1e9_points.yaml", "1000000000", dry=True)),
    _c("filter-str-repeat", *_sweep("{bad}/filter_str_repeat.yaml", "filter_str_repeat.yaml", "filters")),
    _c("filter-power-tower", *_sweep("{bad}/filter_power_tower.yaml", "filter_power_tower.yaml", "filters")),
    _c("filter-long-chain", *_sweep("{bad}/filter_long_chain.yaml", "filter_long_chain.yaml", "filters")),
    _c("filter-deep-parens", *_sweep("{bad}/filter_deep_parens.yaml", "filter_deep_parens.yaml", "filters")),
    _c("filter-attribute", *_sweep("{bad}/filter_attribute.yaml", "filter_attribute.yaml", "filters")),
    _c("filter-call", *_sweep("{bad}/filter_call.yaml", "filter_call.yaml", "filters")),
    _c("gemm-huge", ["run", "--hw", HW, "--gemm", "100000,100000,100000"], ["--gemm", "100000x100000x100000", "--max-memory"]),
    _c("rtl-export-gemm-huge", ["rtl", "export", "--hw", HW, "--gemm", "100000,100000,100000", "--out", "{tmp}/x"], ["--gemm"]),
    _c("synthetic-200000-cubed", *_sweep("{bad}/sweep_synthetic_huge.yaml", "sweep_synthetic_huge.yaml", "200000")),
    _c("synthetic-bad-seed", *_sweep("{bad}/sweep_synthetic_bad_seed.yaml", "sweep_synthetic_bad_seed.yaml",
                                     "synthetic", "seed")),
    _c("npz-zip-bomb", ["unpack", "{tmp}/bomb.npz", "--bits", "8"], ["bomb.npz", "A", "30000"],
       make=lambda t: _zip_bomb(t / "bomb.npz")),
    _c("hex-60mb", ["rtl", "compare", "{tmp}/export", "{tmp}/results.hex"], ["results.hex"], make=_hex_60mb),
    _c("hex-20mb-token", ["rtl", "compare", "{tmp}/export", "{tmp}/results.hex"], ["results.hex"], make=_hex_huge_token),
    # ---- item 4: plain user mistakes
    _c("hw-unhashable-key", ["run", "--hw", "{bad}/hw_unhashable_key.yaml", "--gemm", "4,4,4"], ["hw_unhashable_key.yaml", "key"]),
    _c("hw-duplicate-key", ["run", "--hw", "{bad}/hw_duplicate_key.yaml", "--gemm", "4,4,4"], ["hw_duplicate_key.yaml", "rows"]),
    _c("hw-not-mapping", ["run", "--hw", "{bad}/hw_not_mapping.yaml", "--gemm", "4,4,4"], ["hw_not_mapping.yaml"]),
    _c("set-5000-deep", ["run", "--hw", HW, "--gemm", "4,4,4", "--set", f"rows={DEEP}"], ["--set", "rows"]),
    _c("binary-sweep-spec", *_sweep("{tmp}/spec.yaml", "spec.yaml"), make=_binaries),
    _c("binary-hw", ["run", "--hw", "{tmp}/hw.yaml", "--gemm", "4,4,4"], ["hw.yaml"], make=_binaries),
    _c("binary-cfg", ["import-scalesim", "{tmp}/tpu.cfg", "{bad}/topology_ok.csv", "--out", "{tmp}/o"], ["tpu.cfg"],
       make=_binaries),
    _c("binary-csv", ["import-scalesim", "{bad}/scalesim_ok.cfg", "{tmp}/net.csv", "--out", "{tmp}/o"], ["net.csv"],
       make=_binaries),
    _c("binary-hex", ["rtl", "compare", "{tmp}/export", "{tmp}/results.hex"], ["results.hex"],
       make=lambda t: (_export(t), _binary(t / "results.hex"))),
    _c("binary-sentences", ["capture", "minilm", "--out", "{tmp}/cap", "--sentences", "{tmp}/sentences.txt"],
       ["sentences.txt"], make=lambda t: _binary(t / "sentences.txt")),
    _c("capture-lr-nan", ["capture", "minilm", "--out", "{tmp}/cap", "--lr", "nan"], ["--lr", "nan"]),
    _c("sweep-self-reference", *_sweep("{bad}/sweep_self_reference.yaml", "sweep_self_reference.yaml", "alias")),
    _c("sweep-kinds-none", *_sweep("{bad}/sweep_kinds_none.yaml", "sweep_kinds_none.yaml", "axes.trace.kinds",
                                   "'attention'", "attn_qk", "grad_weight")),
    _c("sweep-kinds-none-dry-run", *_sweep("{bad}/sweep_kinds_none.yaml", "sweep_kinds_none.yaml", "axes.trace.kinds",
                                           "'attention'", "attn_qk", dry=True)),
    _c("sweep-phases-none", *_sweep("{bad}/sweep_phases_none.yaml", "sweep_phases_none.yaml", "axes.trace.phases",
                                    "'bwd'", "synth-bwd", "phases present: fwd")),
    _c("sweep-selection-empty", *_sweep("{bad}/sweep_selection_empty.yaml", "sweep_selection_empty.yaml",
                                        "axes.trace", "grad_input", "fwd", "fwd-grads", "bwd")),
    _c("sweep-duplicate-label", *_sweep("{bad}/sweep_duplicate_label.yaml", "sweep_duplicate_label.yaml",
                                        "axes.trace[1].name", "'layer0'", "axes.trace[0]")),
    _c("sweep-duplicate-label-implicit", *_sweep("{bad}/sweep_duplicate_label_implicit.yaml",
                                                 "sweep_duplicate_label_implicit.yaml", "axes.trace[1].name",
                                                 "'bundled'", "axes.trace[0]")),
    _c("scheduler-bad-address", ["sweep", "{bad}/sweep_ok_tiny.yaml", "--out", "{tmp}/out", "--no-progress",
                                 "--scheduler", "tcp://[::1:99999"], ["--scheduler", "tcp://[::1:99999"]),
    _c("scheduler-not-dask", ["sweep", "{bad}/sweep_ok_tiny.yaml", "--out", "{tmp}/out", "--no-progress",
                              "--scheduler", "tcp://127.0.0.1:{port}"], ["--scheduler", "Dask handshake"],
       make=_silent_listener),
    _c("rtl-manifest-negative-width", ["rtl", "compare", "{tmp}/export", "{tmp}/results.hex"], ["manifest.json", "-3"],
       make=_tampered_manifest(-3)),
    _c("rtl-manifest-width-1e9", ["rtl", "compare", "{tmp}/export", "{tmp}/results.hex"], ["manifest.json", "1000000000"],
       make=_tampered_manifest(10 ** 9)),
    _c("scalesim-1e400", ["import-scalesim", "{bad}/scalesim_1e400.cfg", "{bad}/topology_ok.csv", "--out", "{tmp}/o"],
       ["scalesim_1e400.cfg", "arrayheight", "1e400"]),
    _c("scalesim-nan", ["import-scalesim", "{bad}/scalesim_nan.cfg", "{bad}/topology_ok.csv", "--out", "{tmp}/o"],
       ["scalesim_nan.cfg", "arrayheight", "nan"]),
    _c("scalesim-percent", ["import-scalesim", "{bad}/scalesim_percent.cfg", "{bad}/topology_ok.csv", "--out", "{tmp}/o"],
       ["scalesim_percent.cfg", "ifmapsramszkb", "10%"]),
    _c("scalesim-interpolation", ["import-scalesim", "{bad}/scalesim_interpolation.cfg", "{bad}/topology_ok.csv",
                                  "--out", "{tmp}/o"], ["scalesim_interpolation.cfg", "arraywidth", "%(x)s"]),
    _c("topology-inf", ["import-scalesim", "{bad}/scalesim_ok.cfg", "{bad}/topology_inf.csv", "--out", "{tmp}/o"],
       ["topology_inf.csv", "inf"]),
    _c("topology-16.7", ["import-scalesim", "{bad}/scalesim_ok.cfg", "{bad}/topology_fraction.csv", "--out", "{tmp}/o"],
       ["topology_fraction.csv", "16.7"]),
    _c("topology-300000-layers", ["import-scalesim", "{bad}/scalesim_ok.cfg", "{tmp}/net.csv", "--out", "{tmp}/o"],
       ["net.csv", "300000 layers"], make=_topology(300_000, 1)),
    _c("topology-60-gib-in-total", ["import-scalesim", "{bad}/scalesim_ok.cfg", "{tmp}/net.csv", "--out", "{tmp}/o"],
       ["net.csv", "2000 layers", "--max-memory"], make=_topology(2000, 2000)),
    _c("scalesim-out-dir-is-file", ["import-scalesim", "{bad}/scalesim_ok.cfg", "{bad}/topology_ok.csv", "--out",
                                    "{tmp}/afile"], ["afile"], make=_file("afile")),
    _c("sweep-out-is-file", ["sweep", "{bad}/sweep_ok_tiny.yaml", "--out", "{tmp}/afile", "--workers", "0", "--no-progress"],
       ["afile"], make=_file("afile")),
    _c("plot-corrupt-parquet", ["plot", "{tmp}/sweep", "--out", "{tmp}/p.png"], ["results.parquet"], make=_corrupt_tables),
    _c("plot-unknown-column", ["plot", "{tmp}/sweep", "--kind", "pareto", "--x", "nope", "--out", "{tmp}/p.png"],
       ["sweep", "nope"], make=_finished_sweep),
    _c("filter-max-empty", *_sweep("{bad}/filter_max_empty.yaml", "filter_max_empty.yaml", "max()")),
    _c("filter-neg-trace", *_sweep("{bad}/filter_neg_trace.yaml", "filter_neg_trace.yaml", "-trace")),
    _c("filter-name-eq", *_sweep("{bad}/filter_name_eq.yaml", "filter_name_eq.yaml", "filter")),
    # ---- item 5: errors name the file
    _c("trace-nan", ["run", "--hw", HW, "--trace", "{tmp}/trace.npz"], ["trace.npz", "NaN"],
       make=_trace_with_A(np.array([[np.nan, 1, 2], [3, 4, 5]], np.float32))),
    _c("trace-inf", ["run", "--hw", HW, "--trace", "{tmp}/trace.npz"], ["trace.npz", "inf"],
       make=_trace_with_A(np.array([[np.inf, 1, 2], [3, 4, 5]], np.float32))),
    _c("trace-complex", ["run", "--hw", HW, "--trace", "{tmp}/trace.npz"], ["trace.npz", "complex"],
       make=_trace_with_A(np.ones((2, 3), np.complex64))),
    _c("trace-string", ["run", "--hw", HW, "--trace", "{tmp}/trace.npz"], ["trace.npz"],
       make=_trace_with_A(np.full((2, 3), "abc"))),
    _c("trace-zero-size", ["run", "--hw", HW, "--trace", "{tmp}/trace.npz"], ["trace.npz"],
       make=_trace_with_A(np.zeros((0, 3), np.float32))),
    _c("trace-header-deep-json", ["trace", "list", "{tmp}/trace.npz"], ["trace.npz", "header"],
       make=_trace_header(lambda h: "[" * 100_000 + "]" * 100_000)),
    _c("trace-header-80mb", ["trace", "list", "{tmp}/trace.npz"], ["trace.npz", "header"], make=_trace_header(_huge_header)),
    _c("trace-scale-log2-huge", ["run", "--hw", HW, "--trace", "{tmp}/trace.npz"], ["trace.npz", "scale_log2"],
       make=_trace_header(_scale)),
    _c("trace-index-not-int", ["trace", "list", "{tmp}/trace.npz"], ["trace.npz", "index"],
       make=_trace_header(_set_record("index", "x"))),
    _c("trace-shape-huge", ["run", "--hw", HW, "--trace", "{tmp}/trace.npz"], ["trace.npz", "--max-memory"],
       make=_trace_header(_set_record("shape", [2, 3, 300_000_000]))),
    _c("unpack-int64-min", ["unpack", "{tmp}/gemm.npz", "--bits", "8"], ["gemm.npz", "A"],
       make=_gemm_npz(np.array([[-2 ** 63]], np.int64), np.ones((1, 1), np.int64))),
    _c("unpack-uint64-big", ["unpack", "{tmp}/gemm.npz", "--bits", "8"], ["gemm.npz", "A"],
       make=_gemm_npz(np.array([[2 ** 63 + 5]], np.uint64), np.ones((1, 1), np.int64))),
    _c("unpack-product-over-64-bits", ["unpack", "{tmp}/gemm.npz", "--bits", "8"], ["gemm.npz"],
       make=_gemm_npz(np.full((1, 4), 2 ** 62, np.int64), np.full((4, 1), 2 ** 3, np.int64))),
    _c("unpack-float-without-quantize", ["unpack", "{tmp}/gemm.npz", "--bits", "8"], ["gemm.npz", "A", "--beta"],
       make=_gemm_npz(np.ones((2, 2), np.float32) / 3, np.ones((2, 2), np.float32))),
    _c("hw-tiny-sram", ["run", "--hw", "{bad}/hw_tiny_sram.yaml", "--gemm", "64,64,64"], ["hw_tiny_sram.yaml", "sram_a_kib"]),
    _c("hw-technology-path", ["run", "--hw", "{bad}/hw_technology_path.yaml", "--gemm", "4,4,4"],
       ["hw_technology_path.yaml", "technology", "../../etc/passwd"]),
    # ---- item 6: disk faults
    _c("disk-full-mid-sweep", ["sweep", "{bad}/sweep_ok_tiny.yaml", "--out", "{tmp}/out", "--workers", "0", "--no-progress"],
       ["out", "No space left on device"], code=DISK_FULL),
    _c("disk-full-with-progress-bar", ["sweep", "{bad}/sweep_ok_tiny.yaml", "--out", "{tmp}/out", "--workers", "0"],
       ["out", "No space left on device"], code=DISK_FULL),
    _c("read-only-out-new-sweep", ["{tmp}/ro", "sweep", "{bad}/sweep_ok_tiny.yaml", "--out", "{tmp}/ro/out", "--workers",
                                   "0", "--no-progress"], ["ro/out", "Read-only file system"], code=READ_ONLY,
       make=lambda t: (t / "ro").mkdir()),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2(case: Case, tmp_path: Path) -> None:
    subs = {"{bad}": str(BAD), "{tmp}": str(tmp_path)}
    try:
        made = case.make(tmp_path) if case.make else None
        subs.update(made if isinstance(made, dict) else {})
        argv = [_substitute(a, subs) for a in case.argv]
        proc, seconds = run_cli(argv, tmp_path, case.code)
    finally:
        while _OPEN:
            _OPEN.pop().close()
    lines = displayed_lines(proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert len(lines) == 1, proc.stderr[-3000:]
    line = lines[0]
    assert line.startswith("imsim: error: ") and len(line) <= MAX_LINE, line[:2000]
    for name in case.names:
        assert name.lower() in line.lower(), (name, line)
    assert seconds < HANG_GUARD_S


def _substitute(text: str, subs: dict[str, str]) -> str:
    for key, value in subs.items():
        text = text.replace(key, value)
    return text


def test_corpus_readme_lists_every_file() -> None:
    """Each file in tests/data/bad/ has a README line saying what it probes, and is used."""
    readme = (BAD / "README.md").read_text()
    used = " ".join(" ".join(c.argv) for c in CASES) + (BAD / "README.md").name
    for path in sorted(BAD.iterdir()):
        if path.name == "README.md":
            continue
        assert f"`{path.name}`" in readme, path.name
        assert path.name in used or path.name in _USED_ELSEWHERE, path.name


_USED_ELSEWHERE = {"sweep_ok_tiny.yaml"}


# ------------------------------------------------------------------- after the error

def test_refused_spec_leaves_nothing_and_the_fixed_spec_runs(tmp_path: Path) -> None:
    """A self-referencing description is refused before the output folder is touched (no
    parts/ or .lock to block the next run); the spec with the value written out then runs."""
    out = tmp_path / "out"
    bad = BAD / "sweep_self_reference.yaml"
    proc, _ = run_cli(["sweep", str(bad), "--out", str(out), "--workers", "0", "--no-progress"], tmp_path)
    assert proc.returncode == 2 and "alias" in proc.stderr
    assert not (out / "parts").exists() and not (out / ".lock").exists()
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(bad.read_text().replace("&d [see, *d]", "see itself"))
    proc, _ = run_cli(["sweep", str(fixed), "--out", str(out), "--workers", "0", "--no-progress"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (out / "results.parquet").is_file() and (out / "totals.parquet").is_file()


def test_empty_trace_selection_is_refused_before_any_point_runs(tmp_path: Path) -> None:
    """A trace selection matching no GEMM is a spec error: no output folder, no point run."""
    out = tmp_path / "out"
    proc, _ = run_cli(["sweep", str(BAD / "sweep_kinds_none.yaml"), "--out", str(out), "--workers", "0",
                       "--no-progress"], tmp_path)
    assert proc.returncode == 2 and "sweep_kinds_none.yaml" in proc.stderr, proc.stderr
    assert not out.exists()


def test_finished_sweep_lists_and_plots_from_read_only_media(tmp_path: Path) -> None:
    """Re-running a finished sweep (its listing) and plotting it need no write to its folder."""
    out = tmp_path / "out"
    spec = str(BAD / "sweep_ok_tiny.yaml")
    proc, _ = run_cli(["sweep", spec, "--out", str(out), "--workers", "0", "--no-progress"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    before = sorted((p.name, p.stat().st_mtime_ns) for p in out.rglob("*"))
    proc, _ = run_cli([str(out), "sweep", spec, "--out", str(out), "--workers", "0", "--no-progress"], tmp_path,
                      READ_ONLY)
    assert proc.returncode == 0, proc.stderr
    assert "1 points (0 computed now, 1 already done)" in proc.stdout
    proc, _ = run_cli([str(out), "plot", str(out), "--kind", "cost", "--out", str(tmp_path / "p.png")], tmp_path,
                      READ_ONLY)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "p.png").is_file()
    assert sorted((p.name, p.stat().st_mtime_ns) for p in out.rglob("*")) == before
