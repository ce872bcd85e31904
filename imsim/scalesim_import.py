"""Import a SCALE-Sim setup: config (.cfg) -> imsim hardware YAML, topology (.csv) -> trace.

SCALE-Sim config (INI), section ``[architecture_presets]``:

=================  ==========================  ==========================================
SCALE-Sim key      imsim key                   conversion
=================  ==========================  ==========================================
ArrayHeight        rows                        PEs
ArrayWidth         cols                        PEs
IfmapSramSzkB      sram_a_kib                  KiB (SCALE-Sim's kB are 1024 bytes)
FilterSramSzkB     sram_b_kib                  KiB
OfmapSramSzkB      sram_c_kib                  KiB
Dataflow           dataflow                    os / ws / is unchanged
Bandwidth          dram_bw_bytes_per_cycle     words/cycle x word bytes (ceil(bits/8));
                                               the smallest value when one per bank is given
=================  ==========================  ==========================================

``[general] run_name`` becomes the design name. Offsets, bank layout, sparsity and
``InterfaceBandwidth: CALC`` have no imsim counterpart: they are reported as ignored
(with CALC, imsim's default bandwidth is kept). SCALE-Sim has no operand width: a_bits =
w_bits = ``bits`` (default 8, one-byte words as SCALE-Sim assumes).

Topology CSV: SCALE-Sim's GEMM format is ``Layer name, M, N, K,`` (see its
topology_utils.load_arrays_gemm: a header line, then one layer per line, trailing comma);
imsim's GEMM is A (M x K) @ B (K x N). The convolution format (``Layer name, IFMAP height,
IFMAP width, Filter height, Filter width, Channels, Num filter, Strides``) is also read and
lowered to a GEMM with M = output pixels, K = filter height x width x channels, N = filters.

imsim traces hold operand values, not only shapes, so the trace written is a synthetic one
(:func:`imsim.trace.synthetic.synthetic_trace`) with the topology's shapes and layer names.
"""
from __future__ import annotations

import configparser
import csv
import dataclasses
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imsim.errors import UserError, bad_value, shown
from imsim.limits import check_gemm, check_memory
from imsim.yamlfile import read_text_file

MAX_INPUT_BYTES = 16 << 20  # a SCALE-Sim config or topology is a few KiB
MAX_LAYERS = 10_000  # layers per topology: real networks have hundreds; each becomes one synthetic GEMM

KEY_MAP = {  # SCALE-Sim [architecture_presets] key (lower case) -> imsim key
    "arrayheight": "rows", "arraywidth": "cols", "ifmapsramszkb": "sram_a_kib",
    "filtersramszkb": "sram_b_kib", "ofmapsramszkb": "sram_c_kib", "dataflow": "dataflow",
}
INT_KEYS = ("rows", "cols")
FLOAT_KEYS = ("sram_a_kib", "sram_b_kib", "sram_c_kib")


@dataclass(frozen=True)
class Layer:
    """One GEMM of a topology: A (M x K) @ B (K x N)."""

    name: str
    M: int
    K: int
    N: int


@dataclass(frozen=True)
class ScaleSimConfig:
    """The imsim hardware keys read from a SCALE-Sim config, and what was ignored."""

    hw: dict[str, Any]
    ignored: tuple[str, ...]


def read_config(path: str | Path, bits: int = 8) -> ScaleSimConfig:
    """Map a SCALE-Sim .cfg onto imsim hardware keys (see the module table)."""
    path = Path(path)
    source = str(path)
    parser = configparser.ConfigParser(interpolation=None)  # '%' is data, never a reference
    text = read_text_file(path, "SCALE-Sim config", MAX_INPUT_BYTES)
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        raise UserError(f"{source}: not a SCALE-Sim config (INI): {shown(str(exc).splitlines()[0], 160)}") from None
    if not parser.has_section("architecture_presets"):
        raise UserError(f"{source}: no [architecture_presets] section: not a SCALE-Sim config")
    arch = parser["architecture_presets"]
    hw: dict[str, Any] = {"a_bits": bits, "w_bits": bits}
    ignored: list[str] = []
    word_bytes = math.ceil(bits / 8)
    for key, raw in arch.items():
        value = raw.strip().strip('"')
        if key in KEY_MAP:
            target = KEY_MAP[key]
            hw[target] = _number(value, source, key, int if target in INT_KEYS else float) \
                if target in INT_KEYS + FLOAT_KEYS else value.lower()
        elif key == "bandwidth":
            parts = [p for p in value.split(",") if p.strip()]
            if parts:
                hw["dram_bw_bytes_per_cycle"] = min(_number(p, source, key, float) for p in parts) * word_bytes
        else:
            ignored.append(key)
    for key in ("arrayheight", "arraywidth"):
        if key not in arch:
            raise UserError(f"{source}: [architecture_presets] has no {key!r} (ArrayHeight/ArrayWidth are required)")
    mode = parser.get("run_presets", "InterfaceBandwidth", fallback="").strip().upper()
    if mode == "CALC":
        hw.pop("dram_bw_bytes_per_cycle", None)
        ignored.append("InterfaceBandwidth=CALC (imsim default bandwidth kept)")
    name = parser.get("general", "run_name", fallback=path.stem).strip().strip('"') or path.stem
    hw["name"] = name
    for section in parser.sections():
        if section not in ("general", "architecture_presets", "run_presets"):
            ignored.append(f"[{section}]")
    from imsim.hwconfig import HwConfig

    HwConfig.from_dict(hw, source=source)  # validate (dataflow, sizes, ...) naming the .cfg file
    return ScaleSimConfig(hw=hw, ignored=tuple(ignored))


def _number(text: str, source: str, key: str, kind: type) -> Any:
    """A finite number (kind float) or an integer written as digits, e.g. '16' or '16.0' (kind int)."""
    try:
        value = float(text.strip())
    except ValueError:
        raise bad_value(source, key, text, f"must be {'an integer' if kind is int else 'a number'}") from None
    if not math.isfinite(value):
        raise bad_value(source, key, text, f"must be a finite {'integer' if kind is int else 'number'}")
    if kind is int:
        if value != int(value):
            raise bad_value(source, key, text, "must be an integer")
        return int(value)
    return value


def read_topology(path: str | Path) -> list[Layer]:
    """Layers of a SCALE-Sim topology CSV (GEMM `Layer, M, N, K` or convolution format)."""
    path = Path(path)
    source = str(path)
    text = read_text_file(path, "SCALE-Sim topology", MAX_INPUT_BYTES)
    try:
        rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise UserError(f"{source}: not a SCALE-Sim topology (CSV): {shown(str(exc), 160)}") from None
    rows = [[c for c in r if c != ""] for r in rows]
    rows = [r for r in rows if r]
    if len(rows) < 2:
        raise UserError(f"{source}: a SCALE-Sim topology needs a header line and at least one layer")
    if len(rows) - 1 > MAX_LAYERS:
        raise UserError(f"{source}: {len(rows) - 1} layers; a topology imports at most {MAX_LAYERS} "
                        "(one synthetic GEMM each); split the file")
    header = [h.lower() for h in rows[0]]
    conv = any("ifmap" in h or "filter" in h for h in header)
    layers = []
    for line, row in enumerate(rows[1:], start=2):
        need = 7 if conv else 4
        if len(row) < need:
            raise UserError(f"{source}: line {line}: expected {need} fields "
                            f"({'Layer, IFMAP h, IFMAP w, Filter h, Filter w, Channels, Num filter[, Strides]' if conv else 'Layer, M, N, K'}), got {len(row)}")
        values = []
        for col, text in enumerate(row[1:], start=1):
            v = _number(text, source, f"line {line}, column {col + 1}", int)
            if v < 1:
                raise bad_value(source, f"line {line}, column {col + 1}", text, "must be a positive integer")
            values.append(v)
        if conv:
            ih, iw, fh, fw, ch, nf = values[:6]
            sh = values[6] if len(values) > 6 else 1
            sw = values[7] if len(values) > 7 else sh
            if fh > ih or fw > iw:
                raise UserError(f"{source}: line {line}: filter larger than the input feature map")
            oh, ow = (ih - fh) // sh + 1, (iw - fw) // sw + 1
            layers.append(Layer(row[0], M=oh * ow, K=fh * fw * ch, N=nf))
        else:
            m, n, k = values[:3]  # SCALE-Sim GEMM order: M, N, K
            layers.append(Layer(row[0], M=m, K=k, N=n))
        check_gemm(layers[-1].M, layers[-1].K, layers[-1].N, f"{source}: line {line} ({shown(row[0], 40)})")
    # write_trace builds every layer's synthetic float32 operands in memory before saving
    check_memory(sum(4 * (lay.M * lay.K + lay.K * lay.N) for lay in layers),
                 f"{source}: the synthetic trace of all {len(layers)} layers (operands in memory)")
    return layers


def write_hw_yaml(cfg: ScaleSimConfig, path: str | Path, origin: str) -> Path:
    """Write the hardware config as an imsim YAML file (all keys, SCALE-Sim ones set)."""
    import yaml

    from imsim.hwconfig import HwConfig

    hw = HwConfig.from_dict(cfg.hw, source=origin)
    path = Path(path)
    header = [f"# imsim hardware config imported from SCALE-Sim config {origin}"]
    if cfg.ignored:
        header.append(f"# ignored SCALE-Sim settings: {', '.join(cfg.ignored)}")
    path.write_text("\n".join(header) + "\n" + yaml.safe_dump(hw.to_dict(), sort_keys=False))
    return path


def write_trace(layers: list[Layer], path: str | Path, *, heavy_fraction: float = 0.01, seed: int = 0,
                model: str = "scalesim") -> Path:
    """Write a synthetic trace with one GEMM per layer (the layer's name and M, K, N)."""
    from imsim.trace.format import save_trace
    from imsim.trace.synthetic import synthetic_trace

    trace = synthetic_trace([(lay.M, lay.K, lay.N) for lay in layers], heavy_fraction=heavy_fraction, seed=seed,
                            model=model)
    records = [dataclasses.replace(rec, name=lay.name) for rec, lay in zip(trace, layers)]
    return Path(save_trace(path, records))
