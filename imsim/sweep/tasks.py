"""The tasks of a sweep: how pending points are cut into chunks for workers, and what a
worker runs for one (the same on the local pool, in-process and on Dask).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from imsim.sweep.spec import Point
from imsim.sweep.store import Batch, prepare_batch

# evaluator(points) -> [(point_hash, [gemm result dict, ...]), ...]; must be picklable
Evaluator = Callable[[Sequence[Point]], list[tuple[str, list[dict[str, Any]]]]]
TASKS_PER_WORKER = 4
MAX_CHUNK_POINTS = 16


def make_tasks(points: Sequence[Point], workers: int, max_points: int = MAX_CHUNK_POINTS) -> list[tuple[Point, ...]]:
    """Cut points into tasks (chunks) whose points share a worker's cached work.

    Points are grouped by quantize key (trace and quantization: the integer operands), in
    first-seen order. Within a group, the points of one design (hardware config) stay
    together, across strategies and digits, so that one worker sees the design under each of
    them and reuses the memory simulations they share (imsim.memo; `auto` runs the passes of
    the strategy it picks). That needs the worker to keep every work key's unpacking cached,
    so a group with more than PREPARED_CACHE_SIZE work keys is split by work key first.
    Chunk size: about len(points) / (workers * TASKS_PER_WORKER), at least 1 and at most
    `max_points` (MAX_CHUNK_POINTS on the local pool), so every worker gets several tasks and a
    crash loses little work; a design's points are split only when they alone exceed it.
    """
    from imsim.sweep.evaluate import PREPARED_CACHE_SIZE

    size = max(1, min(max_points, math.ceil(len(points) / (max(1, workers) * TASKS_PER_WORKER))))
    tasks: list[tuple[Point, ...]] = []
    for members in _by(points, Point.quantize_key):
        if len({p.group_key() for p in members}) > PREPARED_CACHE_SIZE:
            subgroups = _by(members, Point.group_key)
        else:
            subgroups = [members]
        for sub in subgroups:
            tasks += _chunks(_by(sub, lambda p: p.hw), size)
    return tasks


def _by(points: Sequence[Point], key: Callable[[Point], Any]) -> list[list[Point]]:
    """`points` split by `key`, in first-seen order of the keys (spec order within each)."""
    out: dict[Any, list[Point]] = {}
    for p in points:
        out.setdefault(key(p), []).append(p)
    return list(out.values())


def _chunks(units: list[list[Point]], size: int) -> list[tuple[Point, ...]]:
    """Consecutive units packed into chunks of at most `size` points; a unit that alone holds
    more is cut into near-equal chunks of its own."""
    chunks: list[tuple[Point, ...]] = []
    chunk: list[Point] = []
    for unit in units:
        if chunk and len(chunk) + len(unit) > size:
            chunks.append(tuple(chunk))
            chunk = []
        if len(unit) > size:
            step = math.ceil(len(unit) / math.ceil(len(unit) / size))
            chunks += [tuple(unit[i:i + step]) for i in range(0, len(unit), step)]
        else:
            chunk += unit
    if chunk:
        chunks.append(tuple(chunk))
    return chunks


def run_task(evaluator: Evaluator, points: Sequence[Point]) -> Batch:
    """What a worker runs for one task: evaluate its points, then build the part file and the
    table rows of those finished (imsim.sweep.store.prepare_batch) here rather than in the
    process that commits them."""
    by_hash = {p.hash: p for p in points}
    finished = []
    for point_hash, rows in evaluator(points):
        if point_hash not in by_hash:
            raise RuntimeError(f"the sweep evaluator returned point {point_hash!r}, which is not in its task")
        finished.append((by_hash[point_hash], rows))
    return prepare_batch(finished)
