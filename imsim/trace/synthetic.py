"""Synthetic GEMM traces with a documented heavy-hitter distribution, for any shape.

For each (M, K, N):

* A (activations, M x K): body N(0, 1). Then exactly round(heavy_fraction * M * K)
  entries, chosen uniformly without replacement, are replaced by outliers
  sign * outlier_scale * (1 + E), sign = +-1 with equal odds, E ~ Exponential(1); so every
  outlier has |x| >= outlier_scale (default 20, far beyond the body's ~5 sigma).
  With `channel_concentration = c` (an int), the outliers are placed only in c columns
  (channels, the K axis) of A, chosen uniformly, as in transformer activations where a few
  feature dimensions carry the large values; the count is capped at c * M.
* B (weights, K x N): body N(0, 1/K), with `b_heavy_fraction` of outliers drawn the same way
  (scaled by 1/sqrt(K)), spread over all entries.

Everything is drawn from numpy's default_rng(seed): the same arguments give the same trace.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from imsim.errors import bad_value
from imsim.limits import check_gemm, check_memory
from imsim.trace.format import GemmRecord, Trace, make_record, open_trace, save_trace

DEFAULT_KIND = "linear"
PHASE = "fwd"  # every synthetic record is a forward GEMM


def kind_and_phase(params: dict) -> tuple[str, str]:
    """(kind, phase) of every record `synthetic_trace(**params)` makes, without making any."""
    return str(params.get("kind", DEFAULT_KIND)), PHASE


def _outliers(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    sign = rng.choice(np.array([-1.0, 1.0]), size=n)
    return sign * scale * (1.0 + rng.exponential(1.0, size=n))


def heavy_matrix(rng: np.random.Generator, rows: int, cols: int, heavy_fraction: float,
                 outlier_scale: float = 20.0, channel_concentration: int | None = None,
                 body_std: float = 1.0) -> np.ndarray:
    """rows x cols float32 matrix: Gaussian body (std body_std) plus outliers (see module doc).

    Outlier magnitudes are body_std * outlier_scale * (1 + E); with channel_concentration=c
    they sit only in c columns.
    """
    X = rng.normal(0.0, body_std, size=(rows, cols))
    count = int(round(heavy_fraction * rows * cols))
    if channel_concentration is not None:
        chans = np.sort(rng.choice(cols, size=min(channel_concentration, cols), replace=False))
        cells = rows * chans.size
        count = min(count, cells)
        pick = rng.choice(cells, size=count, replace=False)
        r, c = pick % rows, chans[pick // rows]
    else:
        pick = rng.choice(rows * cols, size=count, replace=False)
        r, c = np.divmod(pick, cols)
    X[r, c] = _outliers(rng, count, body_std * outlier_scale)
    return X.astype(np.float32)


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v: object) -> bool:
    return (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
            and bool(np.isfinite(v)))


def check_parameters(shapes: Iterable, heavy_fraction: float = 0.01, seed: int = 0, *,
                     channel_concentration: int | None = None, outlier_scale: float = 20.0,
                     b_heavy_fraction: float = 0.0, kind: str = DEFAULT_KIND, model: str = "synthetic") -> None:
    """UserError '<parameter> = <value>: <allowed>' for anything `synthetic_trace` would refuse or
    choke on (types included), and for shapes above the memory limit; nothing is generated."""
    shapes = list(shapes) if isinstance(shapes, (list, tuple)) else shapes
    if not isinstance(shapes, list) or not shapes:
        raise bad_value(None, "shapes", shapes, "must be a non-empty list of (M, K, N)")
    for s in shapes:
        if not isinstance(s, (list, tuple)) or len(s) != 3 or not all(_is_int(v) and v >= 1 for v in s):
            raise bad_value(None, "shape", s, "must be (M, K, N) with positive integers")
        check_gemm(*(int(v) for v in s), "synthetic trace")
    # the records are built in memory before anything is written: A and B of every shape, float32
    total = sum(4 * (int(m) * int(k) + int(k) * int(n)) for m, k, n in shapes)
    check_memory(total, f"synthetic trace of {len(shapes)} GEMMs (float32 operands, all in memory)")
    for field, v in (("heavy_fraction", heavy_fraction), ("b_heavy_fraction", b_heavy_fraction)):
        if not _is_real(v) or not 0.0 <= v <= 1.0:
            raise bad_value(None, field, v, "must be in [0, 1]")
    if not _is_real(outlier_scale) or outlier_scale <= 0:
        raise bad_value(None, "outlier_scale", outlier_scale, "must be > 0")
    if channel_concentration is not None and (not _is_int(channel_concentration) or channel_concentration < 1):
        raise bad_value(None, "channel_concentration", channel_concentration, "must be a positive integer or None")
    if not _is_int(seed) or seed < 0:
        raise bad_value(None, "seed", seed, "must be an integer >= 0")
    for field, v in (("kind", kind), ("model", model)):
        if not isinstance(v, str) or not v:
            raise bad_value(None, field, v, "must be a non-empty string")


def synthetic_trace(shapes: Iterable[tuple[int, int, int]], heavy_fraction: float = 0.01, seed: int = 0, *,
                    channel_concentration: int | None = None, outlier_scale: float = 20.0,
                    b_heavy_fraction: float = 0.0, kind: str = DEFAULT_KIND, model: str = "synthetic",
                    path: str | Path | None = None) -> Trace:
    """A forward trace of one GEMM per shape (named synthetic0, synthetic1, ...).

    In memory when `path` is None; otherwise written there (`.npz` or folder) and reopened
    lazily from disk, so `.path` names the file.
    """
    shapes = [tuple(s) for s in shapes]
    check_parameters(shapes, heavy_fraction, seed, channel_concentration=channel_concentration,
                     outlier_scale=outlier_scale, b_heavy_fraction=b_heavy_fraction, kind=kind, model=model)
    shapes = [tuple(int(v) for v in s) for s in shapes]
    rng = np.random.default_rng(seed)
    records: list[GemmRecord] = []
    for i, (M, K, N) in enumerate(shapes):
        A = heavy_matrix(rng, M, K, heavy_fraction, outlier_scale, channel_concentration)
        B = heavy_matrix(rng, K, N, b_heavy_fraction, outlier_scale, None, body_std=1.0 / np.sqrt(K))
        meta = {"heavy_fraction": heavy_fraction, "b_heavy_fraction": b_heavy_fraction, "seed": seed,
                "outlier_scale": outlier_scale, "channel_concentration": channel_concentration,
                "provenance": "synthetic"}
        records.append(make_record(A, B, name=f"synthetic{i}", kind=kind, phase=PHASE, model=model,
                                   index=i, meta=meta))
    trace_meta = {"provenance": "synthetic", "heavy_fraction": heavy_fraction, "seed": seed}
    if path is None:
        return Trace(tuple(records), None, trace_meta)
    return open_trace(save_trace(path, records, meta=trace_meta))
