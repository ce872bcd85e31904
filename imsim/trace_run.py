"""A trace run GEMM by GEMM: each record quantized, unpacked and simulated on one design, in
this process or in worker processes, results in trace order.

`GemmJob` holds what is done to every GEMM (the `imsim run` flags). `quantize_record` turns a
trace record into integer operands plus quality fields (and the reference product when the
quality error computed it); `simulate_job` unpacks and simulates one
GEMM. `run_records` yields (meta, result) per record in trace order; with `workers` > 1 it hands
contiguous chunks of record indices to forked worker processes (one BLAS thread each, so N
workers use N cores) and takes their results back in order: every GEMM is computed by the same
functions either way, so the rows are identical for any worker count.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import numpy as np

from imsim.errors import UserError, about

CHUNK = 16  # records per worker task: large enough to amortise the hand-over, small enough to balance
MIN_PARALLEL = 64  # fewer records than this run in this process (a pool costs ~0.1 s to start)
META_KEYS = ("provenance", "heavy", "heavy_fraction", "seed")  # per-GEMM meta kept by the caller


@dataclass(frozen=True)
class GemmJob:
    """What is done to each GEMM: RTN settings (beta, levels, w_levels, quantizer) or eXmY formats
    (`formats` = (A format, B format)), the unpack strategy, digit kind and `auto` objective, the
    array timing mode and whether values are executed exactly."""

    strategy: str = "auto"
    digits: str = "signmag"
    objective: str = "macs"
    timing: str = "pipelined"
    execute: bool = True
    beta: float = 1.0
    levels: Optional[int] = None
    w_levels: Optional[int] = None
    quantizer: str = "paper"
    formats: Optional[tuple] = None


def quantize_record(rec, hw, job: GemmJob) -> tuple[np.ndarray, np.ndarray, dict[str, Any], dict[str, Any],
                                                    Optional[np.ndarray]]:
    """(integer A, integer B, meta, quality fields, reference) of one trace record on design hw;
    reference = imsim.reference.reference_gemm(A, B) when the quality error computed it, else
    None (imsim.quality.quantize_gemm_reference)."""
    from imsim.trace.provenance import of_meta

    reference = None
    if job.formats is not None:
        from imsim.formats import quantize_operands_exmy

        A, B, _info = quantize_operands_exmy(np.asarray(rec.A, dtype=np.float64),
                                             np.asarray(rec.B, dtype=np.float64), *job.formats)
        quality: dict[str, Any] = {}
    else:
        from imsim.quality import quantize_gemm_reference

        A, B, quality, reference = quantize_gemm_reference(
            rec.A, rec.B, hw.a_bits, hw.w_bits, beta=job.beta, levels=job.levels, w_levels=job.w_levels,
            quantizer=job.quantizer)
    meta = {**rec.meta, **{k: getattr(rec, k, "") for k in ("name", "kind", "phase", "model")},
            "provenance": of_meta(rec.meta)}
    return A, B, meta, quality, reference


def quantize_at(trace, i: int, hw, job: GemmJob):
    """`quantize_record` of record i of `trace`; a user mistake names the file and the record."""
    rec = trace[i]
    with about(f"{trace.path}: record {i} ({rec.name})"):
        return quantize_record(rec, hw, job)


def kept_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The per-GEMM meta a run keeps for its provenance summary (META_KEYS present in meta)."""
    return {k: meta[k] for k in META_KEYS if k in meta}


def simulate_job(hw, job: GemmJob, A: np.ndarray, B: np.ndarray, meta: dict[str, Any],
                 quality: dict[str, Any], reference: Optional[np.ndarray] = None):
    """Unpack integer A @ B to hw's widths (job.strategy; `auto` judged by job.objective) and
    simulate it: an imsim.results.GemmResult. A user mistake names the GEMM. `reference`:
    reference_gemm(A, B) if already computed (reused by the exactness check)."""
    from imsim.simulate import simulate_gemm
    from imsim.unpack import unpack_gemm

    try:
        if job.strategy == "auto" and job.objective != "macs":
            from imsim.policy import best_unpack

            ug = best_unpack(hw, A, B, job.objective, job.timing, job.digits)
        else:
            ug = unpack_gemm(A, B, hw.a_bits, hw.w_bits, job.strategy, job.digits)
    except UserError as exc:
        raise UserError(f"{meta['name']}: {exc}") from None
    return simulate_gemm(hw, ug, timing=job.timing, execute=job.execute, meta=meta, operands=(A, B),
                         quality=quality, reference=reference)


def _run_one(trace, i: int, hw, job: GemmJob):
    A, B, meta, quality, reference = quantize_at(trace, i, hw, job)
    return kept_meta(meta), simulate_job(hw, job, A, B, meta, quality, reference)


# the run a forked worker serves: set in the parent just before the pool forks (never pickled)
_SHARED: dict[str, Any] = {}


def _run_chunk(bounds: tuple[int, int]) -> list:
    trace, hw, job = _SHARED["trace"], _SHARED["hw"], _SHARED["job"]
    return [_run_one(trace, i, hw, job) for i in range(*bounds)]


def run_records(trace, hw, job: GemmJob, workers: Optional[int] = None,
                progress: Callable[[int], None] = lambda n: None) -> Iterator[tuple[dict[str, Any], Any]]:
    """(meta subset, GemmResult) for every record of `trace` in order. workers: processes
    (None: the usable cores; 0 or 1: this process; traces under MIN_PARALLEL records always run
    here). `progress(n)` is called as n more records finish."""
    n = len(trace)
    from imsim.workers import default_workers

    workers = default_workers() if workers is None else workers
    workers = min(workers, -(-n // CHUNK))
    if workers <= 1 or n < MIN_PARALLEL:
        for i in range(n):
            yield _run_one(trace, i, hw, job)
            progress(1)
        return
    from concurrent.futures.process import BrokenProcessPool

    from imsim.workers import fork_pool

    chunks = [(s, min(s + CHUNK, n)) for s in range(0, n, CHUNK)]
    _SHARED.update(trace=trace, hw=hw, job=job)
    try:
        # the first chunk runs here: the workers then fork with the models imported and their
        # caches (technology tables, area, repeated memory simulations) warm
        first = _run_chunk(chunks[0])
        yield from first
        progress(len(first))
        with fork_pool(workers) as pool:
            for results in pool.map(_run_chunk, chunks[1:]):  # in trace order
                yield from results
                progress(len(results))
    except BrokenProcessPool:
        raise RuntimeError("a worker process died (killed: out of memory?); re-run with fewer --workers, "
                           "--workers 0, or a --max-memory limit") from None
    finally:
        _SHARED.clear()
