"""Growing a sweep: may a spec re-run into a folder that holds another spec's results?

A folder's manifest lists the hash of every point it was started for. A point's hash covers
everything that decides its result (full hardware config, trace identity, quantization,
strategy, timing, execute), so a new spec may use the folder exactly when every point of the
folder is also a point of the new spec: the new spec then only *adds* points (an axis gained
values, or a new axis whose values include the value the old points used). Any other change
(a base key, a filter, `execute`, a removed value) would leave points in the folder that the
new spec does not produce; it is refused with a description of what changed.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from imsim.sweep.spec import DEFAULTS, FORMAT_AXES

_IMPLICIT_FORMAT = ""  # a spec without a format axis uses RTN ('' in the normalized axes)


def folder_points(manifest: Mapping[str, Any]) -> list[str]:
    """The point hashes a sweep folder was started for (empty for a manifest without them)."""
    return [str(p["hash"]) for p in manifest.get("points", []) if isinstance(p, dict) and "hash" in p]


def is_growth(old_hashes: Sequence[str], new_hashes: Sequence[str]) -> bool:
    """True when every old point is also a new point (same or grown spec)."""
    return bool(old_hashes) and set(old_hashes) <= set(new_hashes)


def _ident(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    text = _ident(value) if isinstance(value, (dict, list, bool)) or value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _implicit(key: str, spec: Mapping[str, Any]) -> Any:
    """The value every point of `spec` has for a field that is not one of its axes."""
    if key in FORMAT_AXES:
        return _IMPLICIT_FORMAT
    if key in DEFAULTS:
        return DEFAULTS[key]
    return (spec.get("base") or {}).get(key)


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between two normalized specs in a way that removes or alters old points.

    Each item names the field and the old and new values, e.g. "base.sram_a_kib 64 -> 128"
    or "axes.rows lost 64".
    """
    changes: list[str] = []
    old_base, new_base = old.get("base") or {}, new.get("base") or {}
    old_axes, new_axes = old.get("axes") or {}, new.get("axes") or {}
    for key in dict.fromkeys([*old_base, *new_base]):
        if key in old_axes or key in new_axes:
            continue  # an axis: judged below (its values must include the value the old points used)
        if old_base.get(key) != new_base.get(key):
            changes.append(f"base.{key} {_short(old_base.get(key))} -> {_short(new_base.get(key))}")
    for key in ("execute", "equal_area", "filters", "zip"):
        if _ident(old.get(key)) != _ident(new.get(key)):
            changes.append(f"{key} {_short(old.get(key))} -> {_short(new.get(key))}")
    for key in dict.fromkeys([*old_axes, *new_axes]):
        old_vals = old_axes.get(key, [_implicit(key, old)])
        new_vals = new_axes.get(key, [_implicit(key, new)])
        new_ids = {_ident(v) for v in new_vals}
        lost = [v for v in old_vals if _ident(v) not in new_ids]
        if not lost:
            continue
        if key not in new_axes:
            changes.append(f"axes.{key} removed (its points used {', '.join(_short(v) for v in lost)}; "
                           f"now {_short(new_vals[0])})")
        elif key not in old_axes:
            changes.append(f"axes.{key} added without the value the existing points used ({_short(lost[0])})")
        else:
            changes.append(f"axes.{key} lost {', '.join(_short(v) for v in lost)}")
    return changes
