"""Technology tables: loading, validation and the fits the cost models use.

A technology table is a YAML file (canonical copies ship in ``imsim/tech_tables/``)
whose ``entries`` each carry ``value``, ``unit``, ``source`` and ``label``
(``published`` | ``derived`` | ``assumed``; ``derived`` entries also give ``formula``).
Values are normalised on load to the base units used everywhere in imsim:
energy in pJ, area in um^2, power density in nW/um^2 (= mW/mm^2), ratios in 1.

This is the only module of the energy/area model that reads files.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any


from imsim.errors import bad_value

TABLES_DIR = Path(__file__).resolve().parent / "tech_tables"

LABELS = ("published", "derived", "assumed")

#: unit -> factor to the base unit, per kind of quantity
UNITS: dict[str, dict[str, float]] = {
    "energy": {"pJ": 1.0, "fJ": 1e-3, "nJ": 1e3},
    "area": {"um2": 1.0, "mm2": 1e6},
    "power_density": {"nW/um2": 1.0, "mW/mm2": 1.0},
    "ratio": {"1": 1.0},
}
BASE_UNIT = {"energy": "pJ", "area": "um2", "power_density": "nW/um2", "ratio": "1"}

#: every entry a table must have, and what kind of quantity it is
REQUIRED: dict[str, str] = {
    "add_energy_8b": "energy",
    "add_energy_16b": "energy",
    "add_energy_32b": "energy",
    "mult_energy_8b": "energy",
    "mult_energy_32b": "energy",
    "add_area_8b": "area",
    "add_area_16b": "area",
    "add_area_32b": "area",
    "mult_area_8b": "area",
    "mult_area_32b": "area",
    "sram_read_energy_64b_8kib": "energy",
    "sram_read_energy_64b_32kib": "energy",
    "sram_read_energy_64b_1mib": "energy",
    "sram_write_read_ratio": "ratio",
    "sram_width_fixed_fraction": "ratio",
    "sram_bitcell_area": "area",
    "sram_array_efficiency": "ratio",
    "dram_energy_64b_low": "energy",
    "dram_energy_64b_high": "energy",
    "reg_bit_area": "area",
    "reg_bit_write_energy": "energy",
    "reg_bit_clock_energy": "energy",
    "mux2_bit_area": "area",
    "mux2_bit_energy": "energy",
    "leakage_power_density": "power_density",
}

#: widths (bits) of the published adder / multiplier points
ADD_POINT_BITS = (8, 16, 32)
MULT_POINT_BITS = (8, 32)
#: capacities (KiB) of the published SRAM points (Horowitz's 8 KB, 32 KB, 1 MB)
SRAM_POINT_KIB = {"sram_read_energy_64b_8kib": 8.0, "sram_read_energy_64b_32kib": 32.0,
                  "sram_read_energy_64b_1mib": 1024.0}

#: entries that must be strictly positive (they enter logarithms or divisions)
_POSITIVE = {k for k in REQUIRED if k.startswith(("add_", "mult_", "sram_read_", "dram_"))} | {
    "sram_bitcell_area", "sram_array_efficiency"}
#: ratio entries bounded above by 1
_AT_MOST_ONE = {"sram_width_fixed_fraction", "sram_array_efficiency"}

_TOP_KEYS = {"name", "node_nm", "voltage_v", "entries", "description"}
_ENTRY_KEYS = {"value", "unit", "source", "label", "formula"}


@dataclass(frozen=True)
class TechEntry:
    """One number of a technology table, normalised to its base unit."""

    key: str
    value: float          # in `unit` (the base unit of its kind)
    unit: str             # pJ, um2, nW/um2 or 1
    source: str
    label: str            # published | derived | assumed
    given_value: float    # as written in the file
    given_unit: str       # as written in the file
    formula: str = ""     # how a derived entry was computed


@dataclass(frozen=True)
class Technology:
    """A validated technology table (values in pJ, um^2, nW/um^2).

    The properties expose the fits documented in docs/model-energy-area.md.
    """

    name: str
    node_nm: float
    voltage_v: float | None
    source_file: str
    entries: tuple[TechEntry, ...]

    def entry(self, key: str) -> TechEntry:
        return self._by_key[key]

    @cached_property
    def _by_key(self) -> dict[str, TechEntry]:
        """Entries by key (computed once: the cost models look entries up per GEMM)."""
        return {e.key: e for e in self.entries}

    def __getitem__(self, key: str) -> float:
        """Value of entry `key` in its base unit (pJ, um^2, nW/um^2 or 1)."""
        return self.entry(key).value

    # ---- fits (all pure functions of the frozen entries: computed once per table) ----
    @cached_property
    def add_energy_per_bit_pj(self) -> float:
        """Adder energy per bit of width (pJ/bit): least squares through the origin over 8/16/32 bits."""
        return fit_proportional(ADD_POINT_BITS, [self[f"add_energy_{b}b"] for b in ADD_POINT_BITS])

    @cached_property
    def add_area_per_bit_um2(self) -> float:
        """Adder area per bit of width (um^2/bit), same fit as the energy."""
        return fit_proportional(ADD_POINT_BITS, [self[f"add_area_{b}b"] for b in ADD_POINT_BITS])

    @cached_property
    def mult_energy_exponent(self) -> float:
        """gamma_E in E_mult = E_8b * (a*w/64)^gamma_E (square widths: E ~ b^(2 gamma_E))."""
        return _two_point_exponent(64.0, self["mult_energy_8b"], 1024.0, self["mult_energy_32b"])

    @cached_property
    def mult_area_exponent(self) -> float:
        """gamma_A in A_mult = A_8b * (a*w/64)^gamma_A."""
        return _two_point_exponent(64.0, self["mult_area_8b"], 1024.0, self["mult_area_32b"])

    @cached_property
    def sram_energy_fit(self) -> tuple[float, float]:
        """(k, q) of E_read64(C) = k * C^q, C in KiB, E in pJ per 64-bit read; log-log least squares."""
        caps = list(SRAM_POINT_KIB.values())
        energies = [self[k] for k in SRAM_POINT_KIB]
        return fit_power_law(caps, energies)

    @cached_property
    def dram_energy_per_bit_pj(self) -> float:
        """DRAM energy per bit moved (pJ/bit): midpoint of Horowitz's 1.3-2.6 nJ per 64 bits, / 64."""
        return 0.5 * (self["dram_energy_64b_low"] + self["dram_energy_64b_high"]) / 64.0


def fit_proportional(xs: Any, ys: Any) -> float:
    """Slope k of y = k*x by least squares through the origin."""
    sxy = sum(float(x) * float(y) for x, y in zip(xs, ys))
    sxx = sum(float(x) ** 2 for x in xs)
    return sxy / sxx


def fit_power_law(xs: Any, ys: Any) -> tuple[float, float]:
    """(k, q) of y = k * x^q by least squares on log y = log k + q log x."""
    lx = [math.log(float(x)) for x in xs]
    ly = [math.log(float(y)) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    q = sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)
    return math.exp(my - q * mx), q


def _two_point_exponent(x0: float, y0: float, x1: float, y1: float) -> float:
    return math.log(y1 / y0) / math.log(x1 / x0)


def available_technologies() -> list[str]:
    """Names of the tables shipped in imsim/tech_tables/."""
    return sorted(p.stem for p in TABLES_DIR.glob("*.yaml"))


def _resolve(name_or_path: str) -> Path:
    text = str(name_or_path)
    looks_like_path = text.endswith((".yaml", ".yml")) or os.sep in text or "/" in text
    if looks_like_path:
        path = Path(text)
        if not path.is_file():
            raise bad_value(None, "technology", text, "no such file; give a YAML file or one of "
                            + ", ".join(available_technologies()))
        return path
    path = TABLES_DIR / f"{text}.yaml"
    if not path.is_file():
        raise bad_value(None, "technology", text, "allowed: " + ", ".join(available_technologies())
                        + " or a path to a .yaml technology table")
    return path


def load_technology(name_or_path: str) -> Technology:
    """Load and validate a technology table by name (imsim/tech_tables/<name>.yaml) or path.

    Raises UserError naming the file, the key and the value for anything wrong:
    a missing or unknown entry, a negative energy or area, an unknown unit, a bad label.
    Results are cached per file (and its modification time).
    """
    text = str(name_or_path)
    path = _shipped(text) if text in _SHIPPED_NAMES else _resolve(text).resolve()
    return _load_cached(str(path), path.stat().st_mtime_ns)


_SHIPPED_NAMES = frozenset(p.stem for p in TABLES_DIR.glob("*.yaml"))


@lru_cache(maxsize=None)
def _shipped(name: str) -> Path:
    """The path of a table shipped with imsim, resolved once (a sweep asks per point)."""
    return _resolve(name).resolve()


@lru_cache(maxsize=32)
def _load_cached(path: str, _mtime_ns: int) -> Technology:
    from imsim.yamlfile import load_yaml_file

    return parse_technology(load_yaml_file(path, "technology table"), path)


def parse_technology(data: Any, source: str) -> Technology:
    """Validate the parsed YAML `data` of table file `source` and build a Technology."""
    if not isinstance(data, dict):
        raise bad_value(source, "(top level)", type(data).__name__, "a mapping with name, node_nm, entries")
    for key in data:
        if key not in _TOP_KEYS:
            raise bad_value(source, str(key), data[key], "unknown key; allowed: " + ", ".join(sorted(_TOP_KEYS)))
    for key in ("name", "node_nm", "entries"):
        if key not in data:
            raise bad_value(source, key, None, "missing; a technology table needs name, node_nm and entries")
    name = data["name"]
    if not isinstance(name, str) or not name:
        raise bad_value(source, "name", name, "a non-empty string")
    node_nm = _number(source, "node_nm", data["node_nm"])
    if node_nm <= 0:
        raise bad_value(source, "node_nm", data["node_nm"], "a positive number of nm")
    voltage = data.get("voltage_v")
    if voltage is not None:
        voltage = _number(source, "voltage_v", voltage)
        if voltage <= 0:
            raise bad_value(source, "voltage_v", data["voltage_v"], "a positive number of volts")
    raw = data["entries"]
    if not isinstance(raw, dict):
        raise bad_value(source, "entries", raw, "a mapping of entry name -> {value, unit, source, label}")
    for key in raw:
        if key not in REQUIRED:
            raise bad_value(source, f"entries.{key}", raw[key], "unknown entry; allowed: " + ", ".join(REQUIRED))
    entries = []
    for key, kind in REQUIRED.items():
        if key not in raw:
            raise bad_value(source, f"entries.{key}", None,
                            f"missing; every table needs it ({kind}, units {'|'.join(UNITS[kind])})")
        entries.append(_parse_entry(source, key, kind, raw[key]))
    tech = Technology(name=name, node_nm=node_nm, voltage_v=voltage, source_file=str(source),
                      entries=tuple(entries))
    _check_growth(source, tech)
    return tech


def _number(source: str, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad_value(source, field, value, "a finite number")
    return float(value)


def _parse_entry(source: str, key: str, kind: str, raw: Any) -> TechEntry:
    field = f"entries.{key}"
    if not isinstance(raw, dict):
        raise bad_value(source, field, raw, "a mapping {value, unit, source, label}")
    for k in raw:
        if k not in _ENTRY_KEYS:
            raise bad_value(source, f"{field}.{k}", raw[k], "unknown key; allowed: " + ", ".join(sorted(_ENTRY_KEYS)))
    for k in ("value", "unit", "source", "label"):
        if k not in raw:
            raise bad_value(source, f"{field}.{k}", None, "missing; every entry needs value, unit, source, label")
    value = _number(source, f"{field}.value", raw["value"])
    unit = raw["unit"]
    allowed_units = UNITS[kind]
    if not isinstance(unit, str) or unit not in allowed_units:
        raise bad_value(source, f"{field}.unit", unit, f"unknown unit for {kind}; allowed: " + ", ".join(allowed_units))
    if value < 0:
        raise bad_value(source, f"{field}.value", raw["value"], f"must not be negative ({kind.replace('_', ' ')})")
    if key in _POSITIVE and value == 0:
        raise bad_value(source, f"{field}.value", raw["value"], "must be greater than 0")
    if key in _AT_MOST_ONE and value > 1:
        raise bad_value(source, f"{field}.value", raw["value"], "a fraction between 0 and 1")
    label = raw["label"]
    if label not in LABELS:
        raise bad_value(source, f"{field}.label", label, "allowed: " + ", ".join(LABELS))
    src = raw["source"]
    if not isinstance(src, str) or not src.strip():
        raise bad_value(source, f"{field}.source", src, "a non-empty citation or 'assumed: <reason>'")
    formula = raw.get("formula", "")
    if label == "derived" and (not isinstance(formula, str) or not formula.strip()):
        raise bad_value(source, f"{field}.formula", formula or None, "a derived entry must state its formula")
    return TechEntry(key=key, value=value * allowed_units[unit], unit=BASE_UNIT[kind], source=src.strip(),
                     label=label, given_value=value, given_unit=unit, formula=str(formula).strip())


def _check_growth(source: str, tech: Technology) -> None:
    """The published points must grow with width / capacity, else the fits make no sense."""
    chains = [
        [f"add_energy_{b}b" for b in ADD_POINT_BITS],
        [f"add_area_{b}b" for b in ADD_POINT_BITS],
        [f"mult_energy_{b}b" for b in MULT_POINT_BITS],
        [f"mult_area_{b}b" for b in MULT_POINT_BITS],
        list(SRAM_POINT_KIB),
        ["dram_energy_64b_low", "dram_energy_64b_high"],
    ]
    for chain in chains:
        for lo, hi in zip(chain, chain[1:]):
            if tech[hi] < tech[lo] or (tech[hi] == tech[lo] and not lo.startswith("dram")):
                raise bad_value(source, f"entries.{hi}.value", tech.entry(hi).given_value,
                                f"must be greater than entries.{lo} ({tech.entry(lo).given_value})")
