"""Sweep spec: YAML file -> validated, expanded list of sweep points with stable hashes.

A spec names a base hardware config and *axes*: lists of values for any hardware key
(``rows``, ``a_bits``, ``dataflow``, ``sram_a_kib``, ...) and for the sweep fields
``trace``, ``strategy``, ``beta``, ``granularity``, ``timing``, the quantization axes ``levels``,
``w_levels``, ``quantizer`` and the unpack ``digits`` (imsim.sweep.quant_axes), and the operand formats
``format`` / ``w_format`` (eXmY names: quantize to the format and align exponents into an
exact integer GEMM instead of RTN; see docs/formats.md). Points are the
cartesian product of the axes (in the order written), except that axes listed together
in a ``zip`` group advance together. ``filters`` drop points: each is an expression over
point fields (see :mod:`imsim.sweep.expr`) or ``{max_area_um2: X}`` (area of the design,
um^2, from :func:`imsim.area.area_of_design`). The format is documented in docs/sweeps.md.

Every point has a stable hash (sha256 of its canonical JSON: full hardware config, trace
identity, quantization, strategy, timing), and the spec has a hash of its ordered point
hashes: two specs with the same hash produce the same results table.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from imsim.errors import UserError, about, bad_value, shown
from imsim.limits import MAX_POINTS
from imsim.sweep.expr import Expr, closest, parse_expr
from imsim.sweep.quant_axes import QUANT_AXES, QUANT_DEFAULTS, check_quant_value, resolve_levels, rtn_is_default

SPEC_KEYS = ("name", "description", "base", "axes", "zip", "filters", "execute", "equal_area", "eval")
SWEEP_FIELDS = ("trace", "strategy", "beta", "granularity", "timing") + QUANT_AXES
FORMAT_AXES = ("format", "w_format")  # optional axes (no default): eXmY operand formats
FORMAT_COLUMNS = ("format_a", "format_b")  # the point columns they give ('' = RTN)
NO_FORMAT = ("none", "rtn", "")  # format values meaning RTN (so is YAML null)
STRATEGIES = ("none", "row", "col", "both", "auto")
TIMINGS = ("pipelined", "scalesim")
GRANULARITIES = ("tensor", "row", "column")
TRACE_KEYS = ("name", "path", "synthetic", "kinds", "phases", "limit")
DEFAULTS: dict[str, Any] = {
    "trace": "bundled", "strategy": "auto", "beta": 1.0, "granularity": "tensor", "timing": "pipelined",
    **QUANT_DEFAULTS,
}
AREA_FIELD = "area_um2"
MAX_DESCRIPTION = 10_000  # characters
FILTER_KEYS = ("max_area_um2", "min_area_um2")


def hw_keys() -> tuple[str, ...]:
    """The hardware keys (fields of HwConfig), in declaration order."""
    from imsim.hwconfig import HwConfig

    return tuple(f.name for f in dataclasses.fields(HwConfig))


@dataclass(frozen=True)
class TraceSpec:
    """Where a point's GEMMs come from.

    source: 'bundled' (the trace shipped with imsim), 'path' (a .npz file or folder) or
    'synthetic' (``params`` passed to imsim.trace.synthetic). ``kinds``/``phases`` keep only
    records of those kinds/phases; ``limit`` keeps the first N records (after selection).
    ``label`` is the value of the ``trace`` column in results.
    """

    label: str
    source: str
    path: str | None = None
    params: str = "{}"  # canonical JSON of the synthetic parameters
    kinds: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    limit: int | None = None

    def identity(self) -> dict[str, Any]:
        """What the point hash covers: label and selection, not the absolute path."""
        return {"label": self.label, "source": self.source, "params": json.loads(self.params),
                "kinds": list(self.kinds), "phases": list(self.phases), "limit": self.limit}


@dataclass(frozen=True)
class Point:
    """One sweep point: a full hardware config plus the workload/quantization settings."""

    index: int
    hash: str
    hw: Any  # imsim.hwconfig.HwConfig
    trace: TraceSpec
    strategy: str
    beta: float
    granularity: str
    timing: str
    execute: bool
    format_a: str = ""  # canonical eXmY name of the A operand format, '' = RTN (beta)
    format_b: str = ""  # B operand format ('' = RTN)
    levels: int = 255  # distinct values of A's RTN quantization (resolved: 2^a_bits - 1 by default)
    w_levels: int = 255  # B's (resolved: levels if that axis is given, else 2^w_bits - 1)
    quantizer: str = "paper"
    digits: str = "signmag"
    eval: tuple[str, ...] = ()  # models whose quality columns each row gets (imsim.modeleval)

    def fields(self) -> dict[str, Any]:
        """Flat columns identifying the point (hardware key `name` becomes `hw_name`)."""
        row: dict[str, Any] = {"point_index": self.index, "point_hash": self.hash,
                               "trace": self.trace.label, "strategy": self.strategy, "beta": self.beta,
                               "granularity": self.granularity, "timing": self.timing,
                               "levels": self.levels, "w_levels": self.w_levels, "quantizer": self.quantizer,
                               "digits": self.digits,
                               "format_a": self.format_a, "format_b": self.format_b}
        for key, value in self.hw.to_dict().items():
            row["hw_name" if key == "name" else key] = value
        return row

    def group_key(self) -> tuple[Any, ...]:
        """Points sharing this key share the quantize + unpack work of their trace."""
        return (self.trace, self.hw.a_bits, self.hw.w_bits, self.beta, self.granularity, self.strategy,
                self.format_a, self.format_b, self.levels, self.w_levels, self.quantizer, self.digits)

    def quantize_key(self) -> tuple[Any, ...]:
        """The work key without what only the unpacking reads (strategy, digits): points sharing
        it share the integer operands of their trace and their quality fields."""
        return dataclasses.replace(self, strategy="", digits="").group_key()


@dataclass(frozen=True)
class SweepSpec:
    """A loaded spec: its normalized form (for the manifest) and its expanded points."""

    name: str
    source: str
    normalized: dict[str, Any]
    points: tuple[Point, ...]
    combinations: int  # before filters
    hash: str = field(default="")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "spec_hash": self.hash,
                "combinations": self.combinations, "points": len(self.points), "spec": self.normalized}


def canonical_hash(obj: Any, length: int = 16) -> str:
    """Hex sha256 of the canonical JSON of `obj` (sorted keys), truncated to `length`."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


# ---------------------------------------------------------------------------------- loading

def load_spec(path: str | Path, max_points: int = MAX_POINTS, count_only: bool = False) -> Any:
    """Read, validate and expand the YAML spec at `path` (UserError on any mistake, and for
    more than `max_points` combinations, counted before anything is expanded). With
    `count_only`, return a SpecCount instead (every point validated, none built or hashed)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: sweep spec not found")
    from imsim.yamlfile import load_yaml_file

    data = load_yaml_file(path, "sweep spec")
    return parse_spec(data, source=str(path), base_dir=path.parent, default_name=path.stem, max_points=max_points,
                      count_only=count_only)


@dataclass(frozen=True)
class SpecCount:
    """What `--dry-run` reports: the spec's size without building its points."""

    name: str
    source: str
    combinations: int  # before filters
    points: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "combinations": self.combinations, "points": self.points}


def parse_spec(data: Any, source: str = "spec", base_dir: Path | None = None,
               default_name: str = "sweep", max_points: int = MAX_POINTS, count_only: bool = False) -> Any:
    """Validate a spec mapping (as read from YAML) and expand it into points (at most
    `max_points` combinations before filters; counted first, UserError above). With
    `count_only`, a SpecCount."""
    base_dir = base_dir or Path.cwd()
    if not isinstance(data, dict):
        raise UserError(f"{source}: a sweep spec must be a mapping with keys {', '.join(SPEC_KEYS)}")
    for key in data:
        if key not in SPEC_KEYS:
            raise UserError(f"{source}: unknown key {shown(key)}{closest(str(key), SPEC_KEYS)}; "
                            f"allowed: {', '.join(SPEC_KEYS)}")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise bad_value(source, "name", name, "must be a non-empty string")
    execute = data.get("execute", True)
    if not isinstance(execute, bool):
        raise bad_value(source, "execute", execute, "must be true or false")
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise bad_value(source, "description", description, f"must be a string of at most {MAX_DESCRIPTION} characters")

    base = _load_base(data.get("base", "default"), source, base_dir)
    known_hw = hw_keys()
    axes = _parse_axes(data.get("axes", {}), source, base_dir, base, known_hw)
    equal_area = None
    if data.get("equal_area") is not None:
        equal_area = _load_base(data["equal_area"], source, base_dir, field_name="equal_area")
        clash = [k for k in ("rows", "cols") if k in axes]
        if clash:
            raise UserError(f"{source}: equal_area sizes the array itself: remove axes.{clash[0]}")
    groups = _parse_zip(data.get("zip", []), axes, source)
    check_size(axes, groups, source, max_points)
    filters = _parse_filters(data.get("filters", []), source,
                             (set(known_hw) - {"name"}) | set(SWEEP_FIELDS) | set(FORMAT_COLUMNS) | {"hw_name"})

    points, combinations = _expand(base, axes, groups, filters, execute, source, equal_area, count_only)
    evals = ()
    if data.get("eval") is not None:
        from imsim.modeleval.registry import parse_eval

        evals = parse_eval(data["eval"], source)
    if count_only:
        return SpecCount(name=name, source=source, combinations=combinations, points=points)
    if evals:
        points = [dataclasses.replace(p, eval=evals, hash=canonical_hash([p.hash, list(evals)])) for p in points]
    normalized = {
        "name": name, "description": description, "base": base.to_dict(),
        "axes": {k: [_plain(v) for v in vals] for k, vals in axes.items()},
        "zip": [list(g) for g in groups], "filters": _filter_texts(filters),
        "execute": execute, "equal_area": equal_area.to_dict() if equal_area is not None else None,
    }
    if evals:
        normalized["eval"] = list(evals)
    spec_hash = canonical_hash([p.hash for p in points])
    return SweepSpec(name=name, source=source, normalized=normalized, points=tuple(points),
                     combinations=combinations, hash=spec_hash)


def _plain(value: Any) -> Any:
    return value.identity() if isinstance(value, TraceSpec) else value


def _resolve_config_path(text: str, base_dir: Path) -> Path | None:
    candidates = [base_dir / text, Path(text)]
    if not text.endswith((".yaml", ".yml")):
        candidates += [base_dir / f"{text}.yaml", Path(f"{text}.yaml")]
    from imsim.hwconfig import HW_CONFIGS_DIR, find_hw_config

    candidates += [HW_CONFIGS_DIR / text, HW_CONFIGS_DIR / f"{text}.yaml"]
    found = find_hw_config(text)
    if found:
        candidates.append(found)
    for cand in candidates:
        if cand.is_file():
            return cand
    return None


def _load_base(value: Any, source: str, base_dir: Path, field_name: str = "base") -> Any:
    """The base HwConfig: a config name/path, or a mapping of hw keys (optionally `config:`)."""
    from imsim.hwconfig import HwConfig, load_hw_config

    if isinstance(value, str):
        path = _resolve_config_path(value, base_dir)
        if path is None and value == "default":
            return HwConfig.from_dict({}, source=f"{source}: base")
        if path is None:
            from imsim.hwconfig import shipped_configs

            names = [p.stem for p in shipped_configs()]
            raise bad_value(source, field_name, value, "must name a hardware config (a YAML path, or a config "
                                                      f"in hw_configs/){closest(Path(value).stem, names)}")
        return load_hw_config(path)
    if isinstance(value, dict):
        overrides = dict(value)
        start = overrides.pop("config", None)
        if start is not None:
            base = _load_base(start, source, base_dir, field_name)
        else:
            base = HwConfig.from_dict({}, source=f"{source}: {field_name}")
        known = hw_keys()
        for key in overrides:
            if key not in known:
                raise UserError(f"{source}: {field_name}: unknown hardware key {key!r}{closest(str(key), known)}")
        return HwConfig.from_dict({**base.to_dict(), **overrides}, source=f"{source}: {field_name}")
    raise bad_value(source, field_name, value, "must be a hardware config name/path or a mapping of hardware keys")


def _parse_trace(value: Any, source: str, base_dir: Path, where: str) -> TraceSpec:
    if isinstance(value, str):
        if value == "bundled":
            return TraceSpec(label="bundled", source="bundled")
        return TraceSpec(label=value, source="path", path=_trace_path(value, source, base_dir, where))
    if not isinstance(value, dict):
        raise bad_value(source, where, value, "must be 'bundled', a trace path, or a mapping with path/synthetic")
    for key in value:
        if key not in TRACE_KEYS:
            raise UserError(f"{source}: {where}: unknown key {key!r}{closest(str(key), TRACE_KEYS)}; "
                            f"allowed: {', '.join(TRACE_KEYS)}")
    kinds = _str_tuple(value.get("kinds", ()), source, f"{where}.kinds")
    phases = _str_tuple(value.get("phases", ()), source, f"{where}.phases")
    for phase in phases:
        if phase not in ("fwd", "bwd"):
            raise bad_value(source, f"{where}.phases", phase, "must be fwd or bwd")
    limit = value.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise bad_value(source, f"{where}.limit", limit, "must be a positive integer")
    has_path, has_syn = "path" in value, "synthetic" in value
    if has_path == has_syn:
        raise UserError(f"{source}: {where}: give exactly one of 'path' (a file, or 'bundled') or 'synthetic'")
    if has_path:
        text = value["path"]
        if not isinstance(text, str):
            raise bad_value(source, f"{where}.path", text, "must be a string")
        label = value.get("name", text)
        if text == "bundled":
            spec = TraceSpec(label=str(label), source="bundled", kinds=kinds, phases=phases, limit=limit)
        else:
            spec = TraceSpec(label=str(label), source="path", path=_trace_path(text, source, base_dir, f"{where}.path"),
                             kinds=kinds, phases=phases, limit=limit)
        _check_selection(spec, source, where)
        return spec
    params = value["synthetic"]
    if not isinstance(params, dict):
        raise bad_value(source, f"{where}.synthetic", params, "must be a mapping of synthetic-trace parameters")
    from imsim.sweep.evaluate import synthetic_parameters

    allowed = synthetic_parameters()
    for key in params:
        if key not in allowed:
            raise UserError(f"{source}: {where}.synthetic: unknown parameter {key!r}{closest(str(key), allowed)}; "
                            f"allowed: {', '.join(allowed)}")
    shapes = params.get("shapes")
    if (not isinstance(shapes, list) or not shapes
            or not all(isinstance(s, list) and len(s) == 3 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                     and v >= 1 for v in s) for s in shapes)):
        raise bad_value(source, f"{where}.synthetic.shapes", shapes, "must be a list of [M, K, N] positive integers")
    from imsim.limits import check_gemm
    from imsim.trace.synthetic import check_parameters

    for i, (m, k, n) in enumerate(shapes):
        check_gemm(m, k, n, f"{source}: {where}.synthetic.shapes[{i}]")
    with about(f"{source}: {where}.synthetic"):
        check_parameters(**params)  # every parameter's type and range, before any point runs
    params_json = json.dumps(params, sort_keys=True, separators=(",", ":"))
    label = value.get("name", f"synthetic-{canonical_hash(params, 8)}")
    spec = TraceSpec(label=str(label), source="synthetic", params=params_json, kinds=kinds, phases=phases, limit=limit)
    _check_selection(spec, source, where)
    return spec


def _check_selection(spec: TraceSpec, source: str, where: str) -> None:
    """UserError naming the spec file now, before any point runs, when the trace's kinds/phases
    selection keeps no GEMM (imsim.trace.selection); only the trace's headers are read."""
    if not spec.kinds and not spec.phases:
        return
    from imsim.trace.selection import check_selection

    if spec.source == "synthetic":
        from imsim.trace.synthetic import kind_and_phase

        present = [kind_and_phase(json.loads(spec.params))]
    else:
        from imsim.trace import bundled_trace_path, open_trace

        with about(f"{source}: {where}"):
            trace = open_trace(bundled_trace_path() if spec.source == "bundled" else spec.path)
        present = [(r.kind, r.phase) for r in trace]
    check_selection(present, spec.kinds, spec.phases, source=source, where=where, label=spec.label)


def _trace_path(text: str, source: str, base_dir: Path, where: str) -> str:
    from imsim.trace.registry import NAMES, resolve

    if text in NAMES:  # a named trace (imsim.trace.registry); a missing capture names its command
        return str(resolve(text, source=source, field=where).resolve())
    for cand in (base_dir / text, Path(text)):
        if cand.exists():
            return str(cand.resolve())
    raise bad_value(source, where, text, "trace not found (a trace name such as 'bundled' (`imsim trace list`), or a .npz file / trace folder)")


def _str_tuple(value: Any, source: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise bad_value(source, where, value, "must be a string or a list of strings")
    return tuple(value)


def _parse_axes(raw: Any, source: str, base_dir: Path, base: Any, known_hw: tuple[str, ...]) -> dict[str, list[Any]]:
    if not isinstance(raw, dict):
        raise bad_value(source, "axes", raw, "must be a mapping of field -> value or list of values")
    allowed = tuple(known_hw) + SWEEP_FIELDS + FORMAT_AXES
    axes: dict[str, list[Any]] = {}
    for key, values in raw.items():
        if key not in allowed or key == "name":
            raise UserError(f"{source}: axes: unknown field {key!r}{closest(str(key), allowed)}; "
                            f"allowed: hardware keys and {', '.join(SWEEP_FIELDS + FORMAT_AXES)}")
        vals = list(values) if isinstance(values, (list, tuple)) else [values]
        if not vals:
            raise bad_value(source, f"axes.{key}", values, "needs at least one value (the product would be empty)")
        axes[key] = [_check_value(key, v, source, base_dir, base) for v in vals]
        if key == "trace":
            _check_labels(axes[key], source)
        seen: set[str] = set()
        for v in axes[key]:
            ident = json.dumps(_plain(v), sort_keys=True, default=str)
            if ident in seen:
                raise bad_value(source, f"axes.{key}", values, "values must be distinct")
            seen.add(ident)
    for key, default in DEFAULTS.items():
        if key not in axes:
            axes[key] = [_check_value(key, default, source, base_dir, base)]
    return axes


def _check_labels(traces: list[TraceSpec], source: str) -> None:
    """UserError naming the file, the field and the label when two traces share a label: the
    label is the results' `trace` column, so their rows could not be told apart."""
    first: dict[str, int] = {}
    for i, t in enumerate(traces):
        if t.label in first:
            raise bad_value(source, f"axes.trace[{i}].name", t.label,
                            f"duplicate trace label (axes.trace[{first[t.label]}] has it too); each trace "
                            f"needs its own name, the value of the results' trace column")
        first[t.label] = i


def _check_value(key: str, value: Any, source: str, base_dir: Path, base: Any) -> Any:
    where = f"axes.{key}"
    if key == "trace":
        return _parse_trace(value, source, base_dir, where)
    if key == "strategy":
        if value not in STRATEGIES:
            raise bad_value(source, where, value, f"must be one of {', '.join(STRATEGIES)}")
        return value
    if key == "timing":
        if value not in TIMINGS:
            raise bad_value(source, where, value, f"must be one of {', '.join(TIMINGS)}")
        return value
    if key == "granularity":
        if value not in GRANULARITIES:
            raise bad_value(source, where, value, f"must be one of {', '.join(GRANULARITIES)}")
        return value
    if key in FORMAT_AXES:
        if value is None or (isinstance(value, str) and value.strip().lower() in NO_FORMAT):
            return ""
        from imsim.formats import parse_format

        try:
            return parse_format(value).name  # canonical: two spellings of one format are one point
        except UserError:
            raise bad_value(source, where, value, "must be an eXmY format name (e.g. e2m3, e4m3fn, fp8_e5m2, "
                                                  "int8; see docs/formats.md) or none (RTN)") from None
    if key in QUANT_AXES:
        return check_quant_value(key, value, source, where)
    if key == "beta":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) <= 1.0:
            raise bad_value(source, where, value, "must be a number in (0, 1] (quantile of |x| used as threshold)")
        return float(value)
    # a hardware key: validate it alone on the base config (cross-key checks happen per point)
    from imsim.hwconfig import HwConfig

    HwConfig.from_dict({**base.to_dict(), key: value}, source=f"{source}: {where}")
    return value


def _parse_zip(raw: Any, axes: dict[str, list[Any]], source: str) -> list[tuple[str, ...]]:
    if raw in (None, []):
        return []
    if not isinstance(raw, list) or not all(isinstance(g, list) for g in raw):
        raise bad_value(source, "zip", raw, "must be a list of lists of axis names, e.g. [[rows, cols]]")
    used: set[str] = set()
    groups = []
    for i, group in enumerate(raw):
        if len(group) < 2:
            raise bad_value(source, f"zip[{i}]", group, "a zip group needs at least two axes")
        for key in group:
            if key not in axes:
                raise UserError(f"{source}: zip[{i}]: {key!r} is not an axis{closest(str(key), list(axes))}")
            if key in used:
                raise bad_value(source, f"zip[{i}]", group, f"axis {key!r} is already in another zip group")
            used.add(key)
        lengths = {key: len(axes[key]) for key in group}
        if len(set(lengths.values())) != 1:
            raise bad_value(source, f"zip[{i}]", group, f"zipped axes need equal lengths, got {lengths}")
        groups.append(tuple(group))
    return groups


@dataclass(frozen=True)
class _Filter:
    text: str
    expr: Expr | None = None
    max_area_um2: float | None = None
    min_area_um2: float | None = None

    @property
    def needs_hw(self) -> bool:
        return self.expr is None or AREA_FIELD in self.expr.names


def _parse_filters(raw: Any, source: str, known: set[str]) -> list[_Filter]:
    if raw in (None, []):
        return []
    if not isinstance(raw, list):
        raw = [raw]
    out: list[_Filter] = []
    for i, item in enumerate(raw):
        where = f"{source}: filters[{i}]"
        if isinstance(item, str):
            out.append(_Filter(text=item, expr=parse_expr(item, known | {AREA_FIELD}, where)))
        elif isinstance(item, dict) and len(item) == 1:
            (key, value), = item.items()
            if key not in FILTER_KEYS:
                raise UserError(f"{where}: unknown filter {key!r}{closest(str(key), FILTER_KEYS)}; "
                                f"allowed: an expression string or one of {', '.join(FILTER_KEYS)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise bad_value(source, f"filters[{i}].{key}", value, "must be a positive number (um^2)")
            out.append(_Filter(text=f"{key}: {value}", **{key: float(value)}))
        else:
            raise bad_value(source, f"filters[{i}]", item,
                            "must be an expression string or a mapping like {max_area_um2: 1.0e6}")
    return out


def _filter_texts(filters: list[_Filter]) -> list[str]:
    return [f.text for f in filters]


class _Env(dict):
    """Point fields, with `area_um2` computed only when a filter asks for it."""

    def __init__(self, fields: Mapping[str, Any], hw: Any) -> None:
        super().__init__(fields)
        self._hw = hw

    def __missing__(self, key: str) -> Any:
        if key == AREA_FIELD and self._hw is not None:
            from imsim.area import area_of_design

            self[key] = float(area_of_design(self._hw).area_um2)
            return self[key]
        raise KeyError(key)


def _passes(flt: _Filter, env: _Env) -> bool:
    if flt.expr is not None:
        return bool(flt.expr.evaluate(env))
    area = env[AREA_FIELD]
    if flt.max_area_um2 is not None and area > flt.max_area_um2:
        return False
    return not (flt.min_area_um2 is not None and area < flt.min_area_um2)


def equal_area_size(hw: Any, budget_um2: float) -> int:
    """Largest n such that `hw` with an n x n array has area <= budget_um2 (0 if none fits)."""
    from dataclasses import replace

    from imsim.area import MAX_ARRAY_DIM, area_of_design

    def fits(n: int) -> bool:
        return area_of_design(replace(hw, rows=n, cols=n)).area_um2 <= budget_um2 * (1 + 1e-12)

    if not fits(1):
        return 0
    lo, hi = 1, MAX_ARRAY_DIM
    if fits(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def _dims(axes: dict[str, list[Any]], groups: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The product's dimensions in the order the axes are written; a zip group sits at its first member."""
    grouped = {key: g for g in groups for key in g}
    dims: list[tuple[str, ...]] = []
    for key in axes:
        if key in grouped:
            if grouped[key][0] == key:
                dims.append(grouped[key])
        else:
            dims.append((key,))
    return dims


def count_combinations(axes: dict[str, list[Any]], groups: list[tuple[str, ...]]) -> int:
    """Points of the product before filters (the product of the dimensions' lengths)."""
    return math.prod(len(axes[d[0]]) for d in _dims(axes, groups))


def check_size(axes: dict[str, list[Any]], groups: list[tuple[str, ...]], source: str, max_points: int) -> int:
    """The combination count; UserError naming it when above `max_points` (nothing expanded yet)."""
    n = count_combinations(axes, groups)
    if n > max_points:
        sizes = " x ".join(f"{'+'.join(d)} {len(axes[d[0]])}" for d in _dims(axes, groups) if len(axes[d[0]]) > 1)
        raise UserError(f"{source}: axes: {n} combinations ({sizes}) exceed the limit of {max_points} points "
                        f"per sweep; shrink the axes, split the spec, or raise the limit with --max-points N")
    return n


def _expand(base: Any, axes: dict[str, list[Any]], groups: list[tuple[str, ...]], filters: list[_Filter],
            execute: bool, source: str, equal_area: Any = None, count_only: bool = False) -> tuple[Any, int]:
    """(points, combinations before filters); with `count_only`, (number of points, combinations):
    every point is validated and filtered the same way, but not hashed or built."""
    dims = _dims(axes, groups)
    ranges = [range(len(axes[d[0]])) for d in dims]
    from imsim.hwconfig import HwConfig, check_value

    # hardware axis values normalised once (each was validated alone on the base config)
    norm = {key: [check_value(key, v, source) for v in vals] for key, vals in axes.items()
            if key not in SWEEP_FIELDS and key not in FORMAT_AXES}
    early = [f for f in filters if not f.needs_hw and equal_area is None]
    late = [f for f in filters if f not in early]
    trace_ids = {t: t.identity() for t in axes["trace"]}

    budget = 0.0
    if equal_area is not None:
        from imsim.area import area_of_design

        budget = area_of_design(equal_area).area_um2
    base_fields = {("hw_name" if k == "name" else k): v for k, v in base.to_dict().items()}
    points: list[Point] = []
    seen: dict[str, int] = {}
    combinations = counted = 0
    for combo in itertools.product(*ranges):
        combinations += 1
        values: dict[str, Any] = {}
        hw_over: dict[str, Any] = {}
        for dim, i in zip(dims, combo):
            for key in dim:
                values[key] = axes[key][i]
                if key in norm:
                    hw_over[key] = norm[key][i]
        fmt_a, fmt_b = _point_formats(values, hw_over, source)
        if filters:
            fields = {**base_fields, **hw_over, **{k: values[k] for k in SWEEP_FIELDS},
                      "format_a": fmt_a, "format_b": fmt_b}
            fields["trace"] = values["trace"].label
            fields["levels"], fields["w_levels"] = resolve_levels(
                values["levels"], values["w_levels"], fields.get("a_bits", base.a_bits),
                fields.get("w_bits", base.w_bits))
            env = _Env(fields, None)
            if not all(_passes(f, env) for f in early):
                continue
        hw = _point_hw(base, hw_over, source) if hw_over else base
        if equal_area is not None:
            n = equal_area_size(hw, budget)
            if n == 0:
                raise UserError(f"{source}: equal_area: even a 1x1 array of {hw.a_bits}x{hw.w_bits}-bit PEs with this "
                                f"point's buffers exceeds the reference area {budget:.4g} um^2")
            hw = HwConfig.from_dict({**hw.to_dict(), "rows": n, "cols": n}, source=f"{source}: equal_area")
            if filters:
                fields.update(rows=n, cols=n)
        if late and not all(_passes(f, _Env(fields, hw)) for f in late):
            continue
        levels, w_levels = resolve_levels(values["levels"], values["w_levels"], hw.a_bits, hw.w_bits)
        _check_formats(values, source, (hw.a_bits, hw.w_bits))  # after the filters, which may skip such points
        if count_only:
            counted += 1
            continue
        ident = {"hw": hw.to_dict(), "trace": trace_ids[values["trace"]], "strategy": values["strategy"],
                 "beta": values["beta"], "granularity": values["granularity"], "timing": values["timing"],
                 "execute": execute, "levels": levels, "w_levels": w_levels, "quantizer": values["quantizer"],
                 "digits": values["digits"]}
        if fmt_a:  # only format points: the hashes of RTN points (and of older specs) are unchanged
            ident["format"] = [fmt_a, fmt_b]
        h = canonical_hash(ident)
        if h in seen:
            raise UserError(f"{source}: points {seen[h]} and {len(points)} are identical; check the axes and zip groups")
        seen[h] = len(points)
        points.append(Point(index=len(points), hash=h, hw=hw, trace=values["trace"], strategy=values["strategy"],
                            beta=values["beta"], granularity=values["granularity"], timing=values["timing"],
                            execute=execute, format_a=fmt_a, format_b=fmt_b, levels=levels, w_levels=w_levels,
                            quantizer=values["quantizer"], digits=values["digits"]))
    if not points and not counted:
        texts = "; ".join(f.text for f in filters) or "none"
        raise UserError(f"{source}: the sweep is empty: all {combinations} combinations were removed by the filters ({texts})")
    return (counted if count_only else points), combinations


_BUFFERS_OK: set[tuple[Any, ...]] = set()  # buffer-size checks passed (the memory model's inputs)


def _point_hw(base: Any, hw_over: dict[str, Any], source: str) -> Any:
    """The point's HwConfig (cross-key rules and buffer sizes checked; the message names the point)."""
    from imsim.hwconfig import with_values
    from imsim.memory import check_buffers

    try:
        hw = with_values(base, hw_over, None)
        key = (hw.rows, hw.cols, hw.dataflow, hw.a_bits, hw.w_bits, hw.acc_bits, hw.sram_a_kib, hw.sram_b_kib,
               hw.sram_c_kib, hw.double_buffered)
        if key not in _BUFFERS_OK:
            check_buffers(hw)
            if len(_BUFFERS_OK) > 100_000:
                _BUFFERS_OK.clear()
            _BUFFERS_OK.add(key)
        return hw
    except UserError as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in hw_over.items())
        raise UserError(f"{source}: point ({shown}): {exc}; add a filter to skip such points") from None


def _point_formats(values: dict[str, Any], hw_over: dict[str, Any], source: str) -> tuple[str, str]:
    """(format_a, format_b) of a point ('' = RTN); sets hw_over's a_bits/w_bits to the formats'
    significand widths unless a_bits/w_bits are axes (an explicit width wins), as `imsim run
    --format` does. See _check_formats for the combinations refused."""
    fmt_a, fmt_w = values.get("format", ""), values.get("w_format", "")
    if not fmt_a:
        return "", fmt_w  # a w_format alone is refused after the filters (_check_formats)
    fmt_b = fmt_w or fmt_a
    from imsim.formats import parse_format
    from imsim.hwconfig import check_value

    if "a_bits" not in values:
        hw_over["a_bits"] = check_value("a_bits", parse_format(fmt_a).significand_bits, f"{source}: axes.format")
    if "w_bits" not in values:
        hw_over["w_bits"] = check_value("w_bits", parse_format(fmt_b).significand_bits, f"{source}: axes.format")
    return fmt_a, fmt_b


def _check_formats(values: dict[str, Any], source: str, bits: tuple[int, int] = (8, 8)) -> None:
    """Refuse a w_format without format, and a format point with beta != 1 or non-default RTN
    levels / quantizer (like `imsim run`, where --format and the RTN flags exclude each other)."""
    fmt_a, fmt_w = values.get("format", ""), values.get("w_format", "")
    if fmt_w and not fmt_a:
        raise UserError(f"{source}: axes.w_format = {fmt_w!r} needs axes.format (the A-side format) on the "
                        f"same point; add a filter such as \"format_a != '' or format_b == ''\" to skip such points")
    if fmt_a and (not rtn_is_default(values["levels"], values["w_levels"], values["quantizer"], *bits)):
        raise UserError(f"{source}: axes.format = {fmt_a!r} with non-default levels / w_levels / quantizer: those "
                        f"choose RTN quantization, which format points do not use; skip such points with a filter, "
                        f"e.g. \"format_a == '' or (quantizer == 'paper' and levels == 2**a_bits - 1 and "
                        f"w_levels == 2**w_bits - 1)\"")
    if fmt_a and values["beta"] != 1.0:
        raise UserError(f"{source}: axes.format = {fmt_a!r} with axes.beta = {values['beta']!r}: format and beta both "
                        f"choose how floats become integers; keep beta at 1.0 for format points, e.g. with the "
                        f"filter \"format_a == '' or beta == 1\"")
