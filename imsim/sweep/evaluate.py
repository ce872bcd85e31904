"""The per-point pipeline of a sweep: trace -> quantize + unpack (shared) -> simulate per design.

`evaluate_points(points)` is the default evaluator of the runner. The prepared (quantized +
unpacked) GEMMs of a work key (trace, a_bits, w_bits, beta, granularity, strategy, formats,
levels, w_levels, quantizer, digits) are cached in the worker process (an LRU of
PREPARED_CACHE_SIZE keys), so the unpacking of a trace is done once per worker and key,
however many hardware points use it; the quantized operands are cached under the key
without the strategy and digits (Point.quantize_key), so the strategies of a sweep share
them. The points of a task from :func:`imsim.sweep.runner.make_tasks` share one quantize key
and use at most PREPARED_CACHE_SIZE work keys, so within a task every unpacking is cached.
"""
from __future__ import annotations

import inspect
import json
import threading
from collections import OrderedDict
from typing import Any, Sequence

from imsim.errors import UserError
from imsim.sweep.spec import Point, TraceSpec

PREPARED_CACHE_SIZE = 4  # work keys kept per worker process
_prepared: "OrderedDict[tuple, list[tuple[dict[str, Any], Any, tuple[Any, Any]]]]" = OrderedDict()
_quantized: "OrderedDict[tuple, list[tuple[dict[str, Any], Any, Any]]]" = OrderedDict()  # same size
_traces: dict[str, Any] = {}
_lock = threading.Lock()  # Dask workers may run several threads in one process


def clear_caches() -> None:
    """Forget the traces, quantized operands and prepared GEMMs held by this process."""
    with _lock:
        _prepared.clear()
        _quantized.clear()
        _traces.clear()


def synthetic_parameters() -> tuple[str, ...]:
    """Keys accepted under `synthetic:` in a spec (the parameters of synthetic_trace)."""
    from imsim.trace.synthetic import synthetic_trace

    return tuple(p for p in inspect.signature(synthetic_trace).parameters if p != "path")


def load_trace(spec: TraceSpec) -> Any:
    """The trace of a TraceSpec (cached per process), with kinds/phases/limit applied."""
    key = json.dumps({**spec.identity(), "path": spec.path}, sort_keys=True)
    with _lock:
        if key in _traces:
            return _traces[key]
    if spec.source == "bundled":
        from imsim.trace import bundled_trace_path, open_trace

        trace = open_trace(bundled_trace_path())
    elif spec.source == "path":
        from imsim.trace import open_trace

        trace = open_trace(spec.path)
    else:
        from imsim.trace.synthetic import synthetic_trace

        params = json.loads(spec.params)
        if "shapes" in params:
            params["shapes"] = [tuple(s) for s in params["shapes"]]
        try:
            trace = synthetic_trace(**params)
        except TypeError as exc:
            raise UserError(f"trace {spec.label!r}: synthetic: {exc}") from None
    from imsim.trace.selection import select

    records = select(trace, spec.kinds, spec.phases, spec.limit)
    if not records:  # the spec checks the selection up front; a trace changed on disk since
        raise UserError(f"trace {spec.label!r}: no GEMM records left after kinds/phases/limit selection")
    with _lock:
        _traces[key] = records
    return records


def quantized_gemms(point: Point) -> list[tuple[dict[str, Any], Any, Any, dict[str, Any]]]:
    """(meta, integer A, integer B, quality fields) for every GEMM of the point's trace, cached
    per process by the work key without the strategy: points that differ only in strategy (or
    in hardware fields other than the bit widths) quantize each operand once per worker.

    Points with an operand format (format_a) quantize to eXmY and align exponents into an
    exact integer GEMM (imsim.formats.quantize_operands_exmy, as `imsim run --format`), with
    the point's granularity; the others use RTN with the point's beta, levels, w_levels and
    quantizer, and carry their error against the float product (imsim.quality).
    """
    import numpy as np

    from imsim.quality import quantize_gemm
    from imsim.trace.provenance import of_meta

    key = point.quantize_key()
    with _lock:
        if key in _quantized:
            _quantized.move_to_end(key)
            return _quantized[key]
    out = []
    for rec in load_trace(point.trace):
        A, B = rec.A, rec.B
        if point.format_a:
            from imsim.formats import quantize_operands_exmy

            qa, qb, _info = quantize_operands_exmy(np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64),
                                                   point.format_a, point.format_b or point.format_a,
                                                   granularity=point.granularity)
            quality: dict[str, Any] = {}
        else:
            qa, qb, quality = quantize_gemm(A, B, point.hw.a_bits, point.hw.w_bits, beta=point.beta,
                                            granularity=point.granularity, levels=point.levels,
                                            w_levels=point.w_levels, quantizer=point.quantizer)
        out.append(({"name": rec.name, "kind": rec.kind, "phase": rec.phase, "model": rec.model,
                     "provenance": of_meta(rec.meta)}, qa, qb, quality))
    with _lock:
        _quantized[key] = out
        while len(_quantized) > PREPARED_CACHE_SIZE:
            _quantized.popitem(last=False)
    return out


def prepared_gemms(point: Point) -> list[tuple[dict[str, Any], Any, tuple[Any, Any], dict[str, Any]]]:
    """(meta, UnpackedGemm, integer operands, quality fields) for every GEMM of the point's
    trace; cached by work key. The quantization (quantized_gemms) is shared across strategies;
    the integer operands are kept so that execution is checked against the true reference."""
    from imsim.unpack import unpack_gemm

    key = point.group_key()
    with _lock:
        if key in _prepared:
            _prepared.move_to_end(key)
            return _prepared[key]
    out = [(meta, unpack_gemm(qa, qb, point.hw.a_bits, point.hw.w_bits, point.strategy, point.digits), (qa, qb),
            quality) for meta, qa, qb, quality in quantized_gemms(point)]
    with _lock:
        _prepared[key] = out
        while len(_prepared) > PREPARED_CACHE_SIZE:
            _prepared.popitem(last=False)
    return out


def evaluate_point(point: Point) -> list[dict[str, Any]]:
    """Result rows (GemmResult.to_dict()) of every GEMM of one point, in trace order."""
    from imsim.simulate import simulate_gemm

    rows = []
    for meta, ug, operands, quality in prepared_gemms(point):
        try:
            if point.strategy == "auto" and point.hw.objective != "macs":  # hw key `objective`
                from imsim.policy import best_unpack

                ug = best_unpack(point.hw, *operands, point.hw.objective, point.timing, point.digits)
            result = simulate_gemm(point.hw, ug, timing=point.timing, execute=point.execute, meta=meta,
                                   operands=operands, quality=quality)
        except UserError as exc:
            raise UserError(f"sweep point {point.index} ({point.hash}), GEMM {meta['name']!r}: {exc}") from None
        rows.append(result.to_dict())
    if point.eval:
        from imsim.modeleval.columns import model_columns

        extra = model_columns(point)
        rows = [{**row, **extra} for row in rows]
    return rows


def evaluate_points(points: Sequence[Point]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The runner's evaluator: [(point hash, rows)] for each point, in order. The process
    runs BLAS on one thread (imsim.blas), whichever backend (pool, Dask, inline) called it."""
    from imsim.blas import limit_blas_threads

    limit_blas_threads(1)
    return [(p.hash, evaluate_point(p)) for p in points]
