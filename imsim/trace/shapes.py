"""Shape lists: a CSV of GEMM shapes (or SCALE-Sim layers) -> layers -> a shape-only trace.

Columns are read **by their header names, never by position**; the first line must name them
(case, spaces and underscores ignored; an empty trailing column from a trailing comma is dropped).

* Named GEMM list: `M`, `K`, `N` in any order (C = A·B, A is M x K, B is K x N), optional
  `name` (or `layer`, `layer name`), `kind`, `count` (the GEMM repeated that many times,
  named `name[i]`). SCALE-Sim's GEMM topology `Layer, M, N, K` is such a file: its columns
  are named, so its M, N, K order needs no special case and the K/N swap of a reader by
  position cannot happen.
* SCALE-Sim convolution topology: `Layer name, IFMAP Height, IFMAP Width, Filter Height,
  Filter Width, Channels, Num Filter, Strides` (SCALE-Sim's documented columns; `Strides`
  optional, default 1), lowered like SCALE-Sim does: M = output pixels
  ((H - Fh) // s + 1)·((W - Fw) // s + 1) (no padding), K = Fh·Fw·Channels, N = Num Filter; kind `conv`.

Refused (UserError, exit 2, naming the file, the column and what is allowed): no header line,
a header mixing GEMM and convolution columns, a column named twice (also through aliases such
as `name` and `layer`), unknown columns, missing required columns, and values that are not
positive integers. The values of such a trace are synthetic (shapes only): every record and
the trace carry `provenance: shape-only` with the generator's parameters.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imsim.errors import UserError, shown
from imsim.limits import check_gemm, check_memory

MAX_INPUT_BYTES = 16 << 20  # a shape list or SCALE-Sim topology is a few KiB
MAX_LAYERS = 10_000  # layers per file: real networks have hundreds; each becomes one synthetic GEMM

GEMM_COLUMNS = {"m": "M", "k": "K", "n": "N", "name": "name", "layer": "name", "layername": "name",
                "kind": "kind", "count": "count"}
CONV_COLUMNS = {"layer": "name", "layername": "name", "name": "name", "ifmapheight": "ih", "ifmapwidth": "iw",
                "filterheight": "fh", "filterwidth": "fw", "channels": "ch", "numfilter": "nf",
                "numfilters": "nf", "strides": "s", "stride": "s"}
_CONV_ONLY = {k for k in CONV_COLUMNS if k not in GEMM_COLUMNS}
_CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides"


@dataclass(frozen=True)
class Layer:
    """One GEMM of a shape list: A (M x K) @ B (K x N)."""

    name: str
    M: int
    K: int
    N: int
    kind: str = "gemm"


def _norm(text: str) -> str:
    return "".join(text.lower().split()).replace("_", "").replace("-", "")


def _rows(path: Path) -> list[list[str]]:
    from imsim.yamlfile import read_text_file

    text = read_text_file(path, "shape list", MAX_INPUT_BYTES)  # bounded, UTF-8, names the file
    try:
        rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise UserError(f"{path}: not a CSV file ({exc})") from None
    rows = [r for r in rows if any(r) and not r[0].startswith("#")]
    for r in rows:
        while r and r[-1] == "":
            r.pop()  # SCALE-Sim lines end with a comma
    return rows


def _columns(path: Path, header: list[str]) -> tuple[str, dict[str, int]]:
    """('gemm' | 'conv', field -> column index) from the header; refuses anything ambiguous."""
    keys = [_norm(h) for h in header]
    if not any(keys) or all(_is_number(h) for h in header if h):
        raise UserError(f"{path}: line 1 = {','.join(header)!r}: the first line must name the columns "
                        f"(M, K, N [, name, kind, count] in any order, or SCALE-Sim's {_CONV_HEADER}); "
                        f"columns are never read by position")
    conv = any(k in _CONV_ONLY for k in keys)
    if conv and any(k in ("m", "k", "n") for k in keys):
        raise UserError(f"{path}: header {','.join(header)!r} mixes GEMM columns (M, K, N) and SCALE-Sim "
                        f"convolution columns ({_CONV_HEADER}): ambiguous, give one kind of list")
    table = CONV_COLUMNS if conv else GEMM_COLUMNS
    fields: dict[str, int] = {}
    for i, (raw, key) in enumerate(zip(header, keys)):
        if key not in table:
            allowed = _CONV_HEADER if conv else "M, K, N, name (or layer), kind, count"
            raise UserError(f"{path}: header column {i + 1} = {raw!r}: unknown column; allowed: {allowed}")
        field = table[key]
        if field in fields:
            raise UserError(f"{path}: header column {i + 1} = {raw!r}: names the same field ({field}) as column "
                            f"{fields[field] + 1} ({header[fields[field]]!r}): ambiguous")
        fields[field] = i
    need = ("ih", "iw", "fh", "fw", "ch", "nf") if conv else ("M", "K", "N")
    missing = [header_name(conv, f) for f in need if f not in fields]
    if missing:
        raise UserError(f"{path}: header {','.join(header)!r} has no column {', '.join(missing)} "
                        f"(needed for a {'SCALE-Sim convolution topology' if conv else 'GEMM shape list'})")
    return ("conv" if conv else "gemm"), fields


def header_name(conv: bool, field: str) -> str:
    """The documented header name of a field."""
    names = {"ih": "IFMAP Height", "iw": "IFMAP Width", "fh": "Filter Height", "fw": "Filter Width",
             "ch": "Channels", "nf": "Num Filter", "s": "Strides"}
    return names.get(field, field) if conv else field


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _int(path: Path, line: int, column: str, text: str) -> int:
    """A positive integer cell ('12' or '12.0'); anything else (0, -3, 2.5, nan, inf, 1e400, 10%) refused."""
    try:
        value = int(text)
    except ValueError:
        try:
            f = float(text)
        except ValueError:
            f = float("nan")
        value = int(f) if math.isfinite(f) and f.is_integer() else 0
    if value < 1:
        raise UserError(f"{path}: line {line}, column {column} = {text!r}: must be a positive integer")
    return value


def read_shapes(path: str | Path) -> list[Layer]:
    """The GEMMs of a header-named shape list or SCALE-Sim topology (see the module doc)."""
    path = Path(path)
    rows = _rows(path)
    if len(rows) < 2:
        raise UserError(f"{path}: a shape list needs a header line and at least one row")
    if len(rows) - 1 > MAX_LAYERS:
        raise UserError(f"{path}: {len(rows) - 1} layers; a shape list imports at most {MAX_LAYERS} "
                        "(one synthetic GEMM each); split the file")
    form, fields = _columns(path, rows[0])
    conv = form == "conv"
    layers: list[Layer] = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) > len(rows[0]):
            raise UserError(f"{path}: line {line}: {len(row)} fields, the header names {len(rows[0])}")

        def get(field: str, default: str | None = None) -> str:
            i = fields.get(field)
            if i is None or i >= len(row) or row[i] == "":
                if default is None:
                    raise UserError(f"{path}: line {line}: column {header_name(conv, field)} is empty")
                return default
            return row[i]

        name = get("name", f"layer{len(layers)}")
        if conv:
            ih, iw, fh, fw, ch, nf = (_int(path, line, header_name(True, f), get(f))
                                      for f in ("ih", "iw", "fh", "fw", "ch", "nf"))
            s = _int(path, line, "Strides", get("s", "1"))
            if fh > ih or fw > iw:
                raise UserError(f"{path}: line {line}: filter {fh}x{fw} larger than the input feature map {ih}x{iw}")
            layers.append(Layer(name, M=((ih - fh) // s + 1) * ((iw - fw) // s + 1), K=fh * fw * ch, N=nf,
                                kind="conv"))
            continue
        M, K, N = (_int(path, line, f, get(f)) for f in ("M", "K", "N"))
        kind = get("kind", "gemm")
        count = _int(path, line, "count", get("count", "1"))
        if len(layers) + count > MAX_LAYERS:
            raise UserError(f"{path}: line {line}: count {count} makes more than {MAX_LAYERS} layers "
                            "(one synthetic GEMM each); split the file")
        for i in range(count):
            layers.append(Layer(name if count == 1 else f"{name}[{i}]", M=M, K=K, N=N, kind=kind))
    for lay in layers:
        check_gemm(lay.M, lay.K, lay.N, f"{path}: layer {shown(lay.name, 40)}")
    # the synthetic trace builds every layer's float32 operands in memory before saving
    check_memory(sum(4 * (lay.M * lay.K + lay.K * lay.N) for lay in layers),
                 f"{path}: the synthetic trace of all {len(layers)} layers (operands in memory)")
    return layers


def shapes_trace(layers: list[Layer], *, heavy: float = 0.01, seed: int = 0, model: str = "shapes",
                 source: str = "") -> Any:
    """An in-memory trace with one GEMM per layer: synthetic values (imsim.trace.synthetic) with the
    layer's name, kind and shape, marked `provenance: shape-only`."""
    from imsim.trace.format import Trace
    from imsim.trace.synthetic import synthetic_trace

    syn = synthetic_trace([(lay.M, lay.K, lay.N) for lay in layers], heavy_fraction=heavy, seed=seed, model=model)
    records = tuple(dataclasses.replace(rec, name=lay.name, kind=lay.kind,
                                        meta={**rec.meta, "provenance": "shape-only", "source": source})
                    for rec, lay in zip(syn, layers))
    meta = {"provenance": "shape-only", "source": source, "heavy_fraction": heavy, "seed": seed,
            "values": "synthetic (imsim.trace.synthetic), shapes from the source file"}
    return Trace(records, None, meta)
