"""Run the pending points of a sweep: in-process, on a local process pool, or on Dask.

Points sharing a *work key* (trace, a_bits, w_bits, beta, granularity, strategy, ...)
share the quantize + unpack of their trace, which the evaluator caches per worker process,
so each key's unpacking runs at most once per worker rather than once per hardware point.
imsim.sweep.tasks cuts the points into chunks (tasks) small enough to spread over the workers,
keeping together the points that share cached work (see there). A worker returns a finished
task as one Batch, its part file and table rows already built (`run_task`), and the store
commits it as one file, so an interruption loses at most the chunks in flight, and this
process only writes bytes and keeps the rows. The Dask backend is imsim.sweep.dask_backend.
"""
from __future__ import annotations

import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imsim.errors import UserError
from imsim.sweep.commit import Committer
from imsim.sweep.dask_backend import check_reachable, run_on_dask
from imsim.sweep.spec import Point, SweepSpec
from imsim.sweep.store import ResultStore, Tables
from imsim.sweep.tasks import Evaluator, make_tasks, run_task
from imsim.workers import default_workers, fork_pool

MAX_POOL_RESTARTS = 3


@dataclass(frozen=True)
class SweepReport:
    """What a run did. `seconds` is wall time of this run (s)."""

    out_dir: str
    spec_name: str
    spec_hash: str
    points_total: int
    points_already_done: int
    points_computed: int
    tasks: int
    seconds: float
    backend: str
    tables: dict[str, str]
    result_rows: int

    @property
    def points_per_second(self) -> float:
        return self.points_computed / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": self.out_dir, "spec_name": self.spec_name, "spec_hash": self.spec_hash,
                "points_total": self.points_total, "points_already_done": self.points_already_done,
                "points_computed": self.points_computed, "tasks": self.tasks,
                "seconds": round(self.seconds, 3), "points_per_second": round(self.points_per_second, 3),
                "backend": self.backend, "result_rows": self.result_rows, "tables": self.tables}


def default_evaluator() -> Evaluator:
    from imsim.sweep.evaluate import evaluate_points

    return evaluate_points


def _progress(spec: SweepSpec, done: int, enabled: bool) -> Any:
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread (the local pool forks)
    return tqdm(total=len(spec.points), initial=done, desc=spec.name, unit="pt", file=sys.stderr,
                disable=not enabled, dynamic_ncols=True, smoothing=0.05, mininterval=0.2)


def _run_inline(tasks: list[tuple[Point, ...]], evaluator: Evaluator, committer: Committer) -> int:
    n = 0
    for task in tasks:
        n += committer.add(run_task(evaluator, task))
    return n


def _run_pool(tasks: list[tuple[Point, ...]], workers: int, evaluator: Evaluator, committer: Committer) -> int:
    n = 0
    remaining = list(tasks)
    restarts = 0
    while remaining:
        futures: dict[Future, tuple[Point, ...]] = {}
        try:
            with fork_pool(workers) as pool:
                for task in remaining:
                    futures[pool.submit(run_task, evaluator, task)] = task
                pending = set(futures)
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        n += committer.add(fut.result())
                        remaining.remove(futures[fut])
        except BrokenProcessPool:
            restarts += 1
            if restarts > MAX_POOL_RESTARTS:
                raise RuntimeError(f"the worker pool broke {restarts} times (a worker died); "
                                   f"{committer.store.dir} keeps every finished point: re-run to resume") from None
            print(f"imsim: a sweep worker died; restarting the pool ({len(remaining)} tasks left)",
                  file=sys.stderr)
            committer.wait()
            done = committer.store.done_hashes()
            remaining = [t for t in remaining if any(p.hash not in done for p in t)]
    return n


def run_sweep(spec: SweepSpec, out_dir: str | Path, *, workers: int | None = None, scheduler: str | None = None,
              progress: bool = True, evaluator: Evaluator | None = None) -> tuple[SweepReport, Tables]:
    """Compute every point of `spec` not yet in `out_dir`, then write the consolidated tables.

    workers: local process-pool size (default: CPU count; 0 runs in this process).
    scheduler: address of a Dask scheduler (tcp://host:port); overrides `workers`.
    evaluator: picklable point function (default: the imsim pipeline, imsim.sweep.evaluate).
    """
    if workers is not None and workers < 0:
        raise UserError(f"--workers = {workers}: must be 0 (in-process) or a positive integer")
    evaluator = evaluator or default_evaluator()
    start = time.perf_counter()
    if scheduler:
        check_reachable(scheduler)  # before touching the output folder
    with ResultStore(out_dir, spec) as store:
        pending = store.pending()
        done_before = len(spec.points) - len(pending)
        n_workers = workers if workers is not None else default_workers()
        backend = f"dask:{scheduler}" if scheduler else ("inline" if n_workers == 0 else f"pool:{n_workers}")
        tasks = [] if scheduler else make_tasks(pending, n_workers)  # Dask cuts its own, per worker thread
        bar = _progress(spec, done_before, progress)
        computed, n_tasks = 0, len(tasks)
        try:
            with Committer(store, bar) as committer:  # commits wait here before the tables
                if not pending:
                    computed = 0
                elif scheduler:
                    computed, n_tasks = run_on_dask(pending, scheduler, evaluator, committer)
                elif n_workers == 0 or len(tasks) == 1:
                    computed = _run_inline(tasks, evaluator, committer)
                else:
                    computed = _run_pool(tasks, min(n_workers, len(tasks)), evaluator, committer)
        except KeyboardInterrupt:
            bar.close()
            done = len(spec.points) - len(store.pending())
            print(f"imsim: sweep interrupted with {done} of {len(spec.points)} points committed in {out_dir}; "
                  "re-run the same command to resume", file=sys.stderr)
            raise
        except Exception:
            bar.leave = False  # on a terminal the bar is cleared: the error line is the last word
            raise
        finally:
            bar.close()
        tables = store.consolidate()
    report = SweepReport(out_dir=str(out_dir), spec_name=spec.name, spec_hash=spec.hash,
                         points_total=len(spec.points), points_already_done=done_before,
                         points_computed=computed, tasks=n_tasks, seconds=time.perf_counter() - start,
                         backend=backend, tables=tables.paths, result_rows=len(tables.results))
    return report, tables
