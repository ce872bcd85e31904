"""Layer selection for captures: `--layers all`, `--layers 0,3`, and which layer a GEMM belongs to."""
from __future__ import annotations

import re

from imsim.errors import bad_value

_LAYER = re.compile(r"(?:^|[./])(?:layer|layers|blk)\.(\d+)(?:[.#/\[]|$)")


def parse_layers(text: str, n_layers: int, flag: str = "--layers") -> frozenset[int] | None:
    """The selected layer indices of `text` ('all' -> None, or comma-separated ints in 0..n-1)."""
    text = str(text).strip()
    if text == "all":
        return None
    allowed = f"'all' or comma-separated layer indices in 0..{n_layers - 1}, e.g. 0,3"
    try:
        picked = frozenset(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise bad_value(None, flag, text, allowed) from None
    if not picked or min(picked) < 0 or max(picked) >= n_layers:
        raise bad_value(None, flag, text, allowed)
    return picked


def layer_of(name: str) -> int | None:
    """Index of the transformer layer a GEMM name (module path) lies in, or None (embeddings, loss, head)."""
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


def keep_layers(layers: frozenset[int] | None):
    """Name predicate for capture: GEMMs of the selected layers, and every GEMM outside the layers."""
    if layers is None:
        return None

    def keep(name: str) -> bool:
        idx = layer_of(name)
        return idx is None or idx in layers

    return keep
