"""Hardware configuration: the `HwConfig` frozen dataclass, its schema validation, YAML loading
and `--set KEY=VALUE` overrides.

One YAML key = one dataclass field (flat). Units are in the field names or in `FIELDS` below:
sizes in KiB / bytes, clock in MHz, bandwidth in bytes per cycle, latency in cycles.
Every mistake raises `imsim.errors.UserError` with one line naming the file (or `--set`),
the key, the value and what is allowed. The only I/O here is `load_hw_config`.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from imsim.errors import UserError, bad_value, shown
from imsim.yamlfile import load_yaml_file, parse_yaml, yaml_error_line

DATAFLOWS = ("os", "ws", "is")
K_SCALES = ("shift_accumulate", "scale_passes", "none")
WEIGHT_UNPACK = ("offline", "on_chip")
OBJECTIVES = ("macs", "cycles", "energy", "edp")
OVERFLOW_POLICIES = ("error", "wrap", "saturate")
MIN_BITS, MAX_BITS = 2, 16
MAX_ACC_BITS = 64
MAX_ARRAY_DIM = 4096


@dataclass(frozen=True)
class _Field:
    """Schema of one key: kind in {'int','float','bool','str','enum'}, inclusive bounds."""

    kind: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    strict_lo: bool = False  # lo is exclusive (value > lo)

    def allowed(self) -> str:
        if self.kind == "enum":
            return "one of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "str":
            return "a non-empty string"
        noun = "an integer" if self.kind == "int" else "a number"
        if self.strict_lo and self.hi is None:
            return f"{noun} > {_fmt(self.lo)}"
        if self.hi is None:
            return f"{noun} >= {_fmt(self.lo)}"
        return f"{noun} in {_fmt(self.lo)}..{_fmt(self.hi)}"


def _fmt(x: float | None) -> str:
    return str(int(x)) if x is not None and float(x).is_integer() else str(x)


# key -> schema. Order = order of HwConfig fields = order in to_dict().
FIELDS: dict[str, _Field] = {
    "name": _Field("str"),
    "rows": _Field("int", 1, MAX_ARRAY_DIM),
    "cols": _Field("int", 1, MAX_ARRAY_DIM),
    "a_bits": _Field("int", MIN_BITS, MAX_BITS),
    "w_bits": _Field("int", MIN_BITS, MAX_BITS),
    "acc_bits": _Field("int", 2 * MIN_BITS - 1, MAX_ACC_BITS),
    "recomb_acc_bits": _Field("int", 16, 128),
    "dataflow": _Field("enum", choices=DATAFLOWS),
    "k_scale": _Field("enum", choices=K_SCALES),
    "clock_mhz": _Field("float", 0, strict_lo=True),
    "sram_a_kib": _Field("float", 0, strict_lo=True),
    "sram_b_kib": _Field("float", 0, strict_lo=True),
    "sram_c_kib": _Field("float", 0, strict_lo=True),
    "double_buffered": _Field("bool"),
    "sram_word_bytes": _Field("int", 1),
    "dram_bw_bytes_per_cycle": _Field("float", 0, strict_lo=True),
    "dram_latency_cycles": _Field("int", 0),
    "recomb_lanes": _Field("int", 0),
    "unpack_lanes": _Field("int", 0),
    "unpack_in_bits": _Field("int", MIN_BITS, 64),
    "weight_unpack": _Field("enum", choices=WEIGHT_UNPACK),
    "objective": _Field("enum", choices=OBJECTIVES),
    "overflow": _Field("enum", choices=OVERFLOW_POLICIES),
    "technology": _Field("str"),
    "zero_skipping": _Field("bool"),
}


def _check_field(key: str, value: Any, source: str | None) -> Any:
    """Validate one value against its schema; return it normalised (ints -> float for floats)."""
    f = FIELDS[key]
    if f.kind == "bool":
        if not isinstance(value, bool):
            raise bad_value(source, key, value, f.allowed())
        return value
    if f.kind in ("str", "enum"):
        if not isinstance(value, str) or not value.strip():
            raise bad_value(source, key, value, f.allowed())
        if f.kind == "enum" and value not in f.choices:
            raise bad_value(source, key, value, f.allowed())
        if key == "technology":
            _check_technology(value, source)
        return value
    if f.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_value(source, key, value, f.allowed())
        v: float = int(value)
    else:
        if isinstance(value, str):  # PyYAML (YAML 1.1) reads 1.5e3 as a string: accept it
            try:
                value = float(value)
            except ValueError:
                raise bad_value(source, key, value, f.allowed()) from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad_value(source, key, value, f.allowed())
        v = float(value)
        if not math.isfinite(v):
            raise bad_value(source, key, value, f.allowed())
    if f.lo is not None and (v <= f.lo if f.strict_lo else v < f.lo):
        raise bad_value(source, key, value, f.allowed())
    if f.hi is not None and v > f.hi:
        raise bad_value(source, key, value, f.allowed())
    return v


def _check_technology(value: str, source: str | None) -> None:
    """A technology is a shipped table name or a path to a YAML table (checked at load time)."""
    from imsim.tech import available_technologies  # lazy: tech imports nothing from here

    if value in _technology_names():
        return
    if value.endswith((".yaml", ".yml")) or "/" in value:
        if not value.endswith((".yaml", ".yml")):
            raise bad_value(source, "technology", value, "a path to a technology table must end in .yaml or .yml")
        if not Path(value).is_file():
            raise bad_value(source, "technology", value, "no such technology file")
        from imsim.tech import load_technology

        try:
            load_technology(value)  # cached; a bad table is reported against this config
        except UserError as exc:
            raise UserError(f"{source + ': ' if source else ''}technology = {shown(value)}: {exc}") from None
        return
    raise bad_value(source, "technology", value,
                    f"must be one of {', '.join(available_technologies())} or a path to a .yaml table")


@functools.lru_cache(maxsize=1)
def _technology_names() -> frozenset[str]:
    from imsim.tech import available_technologies  # lazy: tech imports nothing from here

    return frozenset(available_technologies())


def _unknown_key(key: Any, value: Any, source: str | None) -> UserError:
    """'<source>: unknown key 'rowz' = 3: did you mean 'rows'? known keys: ...' (one line)."""
    close = difflib.get_close_matches(str(key), list(FIELDS), n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'? " if close else ""
    where = f"{source}: " if source else ""
    return UserError(f"{where}unknown key {shown(key)} = {shown(value)}: {hint}"
                     f"known keys: {', '.join(FIELDS)}")


@dataclass(frozen=True)
class HwConfig:
    """One accelerator design. See docs/architecture.md for the table of keys.

    Units: rows/cols in PEs; *_bits in bits; clock_mhz in MHz; sram_*_kib in KiB (1024 B);
    sram_word_bytes in bytes per SRAM access; dram_bw_bytes_per_cycle in bytes per array
    clock cycle; dram_latency_cycles in cycles; recomb_lanes / unpack_lanes in elements per
    cycle (0: the design has no recombination / unpack unit); unpack_in_bits in bits.
    A *plain* design (k_scale none, recomb_lanes 0, unpack_lanes 0) runs only GEMMs whose
    operands fit a_bits / w_bits (imsim.capability).
    Constructing one validates it (UserError without a file name; use `from_dict` /
    `load_hw_config` to get messages naming the file).
    """

    name: str = "default"
    rows: int = 32
    cols: int = 32
    a_bits: int = 8
    w_bits: int = 8
    acc_bits: int = 32
    recomb_acc_bits: int = 64
    dataflow: str = "os"
    k_scale: str = "shift_accumulate"
    clock_mhz: float = 1000.0
    sram_a_kib: float = 64.0
    sram_b_kib: float = 64.0
    sram_c_kib: float = 64.0
    double_buffered: bool = True
    sram_word_bytes: int = 16
    dram_bw_bytes_per_cycle: float = 32.0
    dram_latency_cycles: int = 100
    recomb_lanes: int = 32
    unpack_lanes: int = 32
    unpack_in_bits: int = 16
    weight_unpack: str = "offline"
    objective: str = "macs"
    overflow: str = "error"
    technology: str = "45nm"
    zero_skipping: bool = False

    def __post_init__(self) -> None:
        values = _validate({key: getattr(self, key) for key in FIELDS}, None)
        for key, value in values.items():
            if value is not getattr(self, key):
                object.__setattr__(self, key, value)

    # ---- conversions -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Flat dict of all keys (same names as the YAML file), in schema order."""
        return {key: getattr(self, key) for key in FIELDS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str | None = None) -> "HwConfig":
        """Build from a (partial) flat dict; missing keys take their defaults.

        `source` names where the dict came from (file path, '--set') for error messages.
        """
        return cls(**_validate(d, source, fill_defaults=True))

    def replace(self, **changes: Any) -> "HwConfig":
        """A copy with some keys changed, validated like a file (source 'HwConfig.replace')."""
        return HwConfig.from_dict({**self.to_dict(), **changes}, source="HwConfig.replace")

    # ---- derived quantities --------------------------------------------------------------
    @property
    def pes(self) -> int:
        """Number of processing elements, rows * cols."""
        return self.rows * self.cols

    @property
    def clock_hz(self) -> float:
        """Clock in Hz."""
        return self.clock_mhz * 1e6


_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(HwConfig)}


def _validate(d: Mapping[str, Any], source: str | None, fill_defaults: bool = False) -> dict[str, Any]:
    """Check keys, types, ranges and cross-key rules; return the normalised full dict."""
    if not isinstance(d, Mapping):
        raise UserError(f"{source + ': ' if source else ''}expected a mapping of KEY: VALUE, "
                        f"got {type(d).__name__}")
    for key in d:
        if key not in FIELDS:
            raise _unknown_key(key, d[key], source)
    values = dict(_DEFAULTS) if fill_defaults else {}
    values.update(d)
    out = {key: _check_field(key, values[key], source) for key in FIELDS if key in values}
    if len(out) == len(FIELDS):
        _check_cross(out, source)
    return out


def _check_cross(out: Mapping[str, Any], source: str | None) -> None:
    """The rules between keys of a full config."""
    need = out["a_bits"] + out["w_bits"] - 1
    if out["acc_bits"] < need:
        raise bad_value(source, "acc_bits", out["acc_bits"],
                        f"accumulator narrower than a product: needs an integer in "
                        f"{need}..{MAX_ACC_BITS} (a_bits + w_bits - 1 = {need})")


def check_value(key: str, value: Any, source: str | None) -> Any:
    """One key's value validated alone and normalised (e.g. 16 -> 16.0 for a float key)."""
    if key not in FIELDS:
        raise _unknown_key(key, value, source)
    return _check_field(key, value, source)


def with_values(base: HwConfig, changes: Mapping[str, Any], source: str | None) -> HwConfig:
    """`base` with `changes` whose values were each normalised by `check_value`; only the
    cross-key rules are checked here. The fast path for sweeps (one config per point)."""
    values = {**base.__dict__, **changes}
    _check_cross(values, source)
    hw = object.__new__(HwConfig)
    hw.__dict__.update(values)
    return hw


# ---- YAML loading (imsim.yamlfile: strict, bounded) -------------------------------------------


def parse_overrides(overrides: Mapping[str, Any] | Iterable[str]) -> dict[str, Any]:
    """Turn `--set` strings ("KEY=VALUE", VALUE parsed as YAML) or a dict into a dict.

    Keys are checked against the schema here (unknown key -> UserError naming `--set`).
    For string-valued keys (name, technology) the raw text is kept (so `name=123` is "123").
    """
    if isinstance(overrides, Mapping):
        items = dict(overrides)
    else:
        items = {}
        for text in overrides:
            if not isinstance(text, str) or "=" not in text:
                raise UserError(f"--set {text!r}: expected KEY=VALUE, e.g. --set rows=64")
            key, raw = text.split("=", 1)
            key = key.strip()
            if key not in FIELDS:
                raise _unknown_key(key, raw, "--set")
            if FIELDS[key].kind == "str":
                value: Any = raw.strip()
            else:
                try:
                    value = parse_yaml(raw) if raw.strip() else raw
                except yaml.YAMLError as exc:
                    raise bad_value("--set", key, raw, f"a YAML scalar ({yaml_error_line(exc)})") from None
            items[key] = value
    for key in items:
        if key not in FIELDS:
            raise _unknown_key(key, items[key], "--set")
    return items


def load_hw_config(path: str | Path,
                   overrides: Mapping[str, Any] | Iterable[str] = ()) -> HwConfig:
    """Read a hardware YAML file, apply overrides (`--set` strings or a dict), validate.

    `name` defaults to the file stem; overrides that change a value are appended to it
    ('default+rows=16') unless they set `name`. Errors name the file (or `--set` for a bad override).
    """
    path = Path(path)
    if not path.exists() and find_hw_config(str(path)) is not None:
        path = find_hw_config(str(path))  # a shipped design by name, e.g. --hw edge_16x16_int4
    source = str(path)
    if not path.exists():
        raise UserError(f"{source}: no such hardware config{_did_you_mean(source)}; give a YAML path or a "
                        f"shipped design: {', '.join(p.stem for p in shipped_configs())}")
    data = load_yaml_file(path, "hardware config")
    if data is None:
        raise UserError(f"{source}: empty file: expected a mapping of hardware keys "
                        f"(e.g. rows: 32)")
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a mapping of hardware keys (e.g. rows: 32), "
                        f"got a YAML {type(data).__name__}")
    for key in data:
        if key not in FIELDS:
            raise _unknown_key(key, data[key], source)
    data.setdefault("name", path.stem)
    # validate the file alone first, so a bad file value names the file
    _validate(data, source)
    sets = parse_overrides(overrides)
    if sets:
        _validate(sets, "--set")
        if "name" not in sets:
            data = {**data, "name": override_name(data["name"], data, sets)}
        source = f"{source} with --set"
    hw = HwConfig.from_dict({**data, **sets}, source=source)
    from imsim.memory import check_buffers  # lazy: the memory model imports simpy

    try:
        check_buffers(hw)
    except UserError as exc:
        raise UserError(f"{source}: {exc}") from None
    return hw


def override_name(name: str, before: Mapping[str, Any], sets: Mapping[str, Any]) -> str:
    """A design's name recording the overrides that change it: 'default+rows=16+dataflow=ws'."""
    changed = [f"{k}={_plain_text(v)}" for k, v in sets.items() if before.get(k, _DEFAULTS.get(k)) != v]
    return "+".join([name, *changed])


def _plain_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# The shipped configs: `imsim/hw_configs` is a link to the top-level `hw_configs/` folder in a
# checkout and a real folder (package data) in an installed wheel.
HW_CONFIGS_DIR = Path(__file__).parent / "hw_configs"


def shipped_configs() -> list[Path]:
    """The YAML files in the shipped `hw_configs/` folder, sorted."""
    return sorted(HW_CONFIGS_DIR.glob("*.yaml")) if HW_CONFIGS_DIR.is_dir() else []


def _did_you_mean(text: str) -> str:
    """' (did you mean NAME?)' for the shipped design closest to a mistyped --hw, or ''."""
    stem = Path(text).name
    stem = stem[:-5] if stem.endswith(".yaml") else stem
    match = difflib.get_close_matches(stem, [p.stem for p in shipped_configs()], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def find_hw_config(name: str) -> Path | None:
    """Path of a shipped config given its name ('edge_16x16_int4' or 'edge_16x16_int4.yaml'),
    or None if there is none."""
    stem = name[:-5] if name.endswith(".yaml") else name
    for path in shipped_configs():
        if path.stem == stem:
            return path
    return None
