"""Provenance of operand values: `real` (captured from a model), `synthetic` (random values,
e.g. `imsim run --gemm` or a synthetic trace) or `shape-only` (imported shapes with synthetic
values). Stored as `meta["provenance"]` in every record (and in a trace's metadata);
GemmResult.provenance carries it into every result row.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

REAL, SYNTHETIC, SHAPE_ONLY = "real", "synthetic", "shape-only"
KINDS = (REAL, SYNTHETIC, SHAPE_ONLY)


def of_meta(meta: Mapping[str, Any]) -> str:
    """A record's provenance. Records written before provenance was stored: `synthetic` when they
    carry the synthetic generator's parameters (heavy_fraction and seed), else `real` (captured)."""
    value = meta.get("provenance")
    if value in KINDS:
        return str(value)
    return SYNTHETIC if "heavy_fraction" in meta and "seed" in meta else REAL


def _params(meta: Mapping[str, Any]) -> str:
    keys = (("heavy_fraction", "heavy"), ("heavy", "heavy"), ("seed", "seed"))
    parts = [f"{label} {meta[k]}" for k, label in keys if k in meta]
    return ", ".join(dict.fromkeys(parts))


def describe(metas: Iterable[Mapping[str, Any]]) -> str:
    """One line for a text header: which values the results come from, with counts if mixed and
    the synthetic generator's parameters (heavy-hitter fraction, seed)."""
    metas = list(metas)
    counts = Counter(of_meta(m) for m in metas)
    texts = {REAL: "real (captured from a model)",
             SYNTHETIC: "synthetic (random operands{p}): unpack ratios reflect the heavy-hitter setting, not a model",
             SHAPE_ONLY: "shape-only (imported shapes, synthetic operands{p}): unpack ratios are not a model's"}
    parts = []
    for kind in KINDS:
        if counts[kind]:
            first = next(m for m in metas if of_meta(m) == kind)
            params = _params(first)
            text = texts[kind].format(p=f": {params}" if params else "")
            parts.append(text if len(counts) == 1 else f"{counts[kind]} GEMMs {text}")
    return "; ".join(parts) if parts else "none"
