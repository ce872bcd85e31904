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
Columns are read by their header names (imsim.trace.shapes), never by position.

imsim traces hold operand values, not only shapes, so the trace written is a synthetic one
(:func:`imsim.trace.synthetic.synthetic_trace`) with the topology's shapes and layer names.
"""
from __future__ import annotations

import configparser
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imsim.errors import UserError, bad_value, shown
from imsim.trace.shapes import MAX_INPUT_BYTES, Layer, read_shapes, shapes_trace
from imsim.yamlfile import read_text_file

__all__ = ["Layer", "ScaleSimConfig", "read_config", "read_topology", "write_hw_yaml", "write_trace"]

KEY_MAP = {  # SCALE-Sim [architecture_presets] key (lower case) -> imsim key
    "arrayheight": "rows", "arraywidth": "cols", "ifmapsramszkb": "sram_a_kib",
    "filtersramszkb": "sram_b_kib", "ofmapsramszkb": "sram_c_kib", "dataflow": "dataflow",
}
INT_KEYS = ("rows", "cols")
FLOAT_KEYS = ("sram_a_kib", "sram_b_kib", "sram_c_kib")


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
    """Layers of a SCALE-Sim topology CSV (GEMM `Layer, M, N, K` or convolution format), read by
    header names (imsim.trace.shapes.read_shapes; shared with `imsim import-shapes`)."""
    return read_shapes(path)


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


def write_trace(layers: list[Layer], path: str | Path, *, heavy: float = 0.01, seed: int = 0,
                model: str = "scalesim", source: str = "") -> Path:
    """Write a shape-only trace (synthetic values) with one GEMM per layer (name, kind, M, K, N)."""
    from imsim.trace.format import save_trace

    return Path(save_trace(path, shapes_trace(layers, heavy=heavy, seed=seed, model=model, source=source)))
